"""The project's event log storage (dca_pipeline/event_storage.py) records what Dagster's stock SQLite storage
records: the same run, through both, gives the same events, materializations, partitions and check results, read
back by a second instance on the same files; pool slots are claimed and freed through it; bad config is refused."""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
from dagster import (AssetCheckResult, AssetIn, AssetKey, AssetOut, BackfillPolicy, DagsterEventType, DagsterInstance,
                     InMemoryIOManager, Nothing, Output, asset, asset_check, materialize, multi_asset)

from dca_pipeline.event_storage import BATCH_ENV, BatchedSqliteEventLogStorage
from dca_pipeline.partitions import DAILY

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RANGE = {"dagster/asset_partition_range_start": "2021-01-01", "dagster/asset_partition_range_end": "2021-01-10"}
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@multi_asset(outs={"orders": AssetOut(dagster_type=Nothing), "book": AssetOut(io_manager_key="mem")},
             partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run())
def day(context):  # noqa: ANN001, ANN201
    yield Output(None, "orders", metadata={"n": len(context.partition_keys)})
    yield Output(len(context.partition_keys), "book")


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run(), io_manager_key="mem", ins={"book": AssetIn("book")})
def performance(book: int) -> int:
    return book


@asset_check(asset=performance)
def performance_positive(performance: int) -> AssetCheckResult:
    return AssetCheckResult(passed=performance > 0, metadata={"value": performance})


def _unset_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset DAGSTER_EVENT_BATCH_SIZE so that the storage sets it, and have the monkeypatch put back what was
    there (`delenv` of an absent variable records nothing to restore: the storage's value would leak)."""
    monkeypatch.setenv(BATCH_ENV, "0")
    monkeypatch.delenv(BATCH_ENV)


def _home(tmp_path: Path, name: str, stock: bool) -> Path:
    home = tmp_path / name
    home.mkdir()
    text = (PROJECT_ROOT / "dagster.yaml").read_text()
    if stock:
        text = re.sub(r"(?ms)^event_log_storage:\n(?:[ #].*?\n|\n)*?(?=^\S)", "", text)
    (home / "dagster.yaml").write_text(text)
    return home


def _record(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run the ten days once on the instance in `home`, then read everything back through a second instance."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        result = materialize([day, performance, performance_positive], instance=instance, tags=RANGE,
                             resources={"mem": InMemoryIOManager()}, run_config=QUIET)
        assert result.success
        run_id = result.run_id
    with DagsterInstance.from_config(str(home)) as reader:
        logs = reader.all_logs(run_id)
        keys = sorted(k.to_user_string() for k in reader.get_asset_keys())
        return {
            "storage": type(reader.event_log_storage).__name__,
            "events": Counter(e.dagster_event_type.value for e in logs if e.is_dagster_event),
            "keys": keys,
            "partitions": {k: sorted(reader.get_materialized_partitions(key))
                           for k, key in ((k, next(a for a in reader.get_asset_keys() if a.to_user_string() == k)) for k in keys)},
            "materializations": Counter(
                (e.dagster_event.asset_key.to_user_string(), e.dagster_event.partition)
                for e in logs if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION),
            "checks": [(e.dagster_event.event_specific_data.check_name, e.dagster_event.event_specific_data.passed)
                       for e in logs if e.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION],
            "run_status": reader.get_run_by_id(run_id).status.value,
            # the cross-run index: every materialization with its id, in order, each asset's latest entry, and the
            # names of the indexed tags of each materialization (their values, data versions, hash the run id)
            "index": {k: [(r.storage_id, r.partition_key) for r in reversed(reader.fetch_materializations(
                AssetKey.from_user_string(k), limit=1000).records)] for k in keys},
            "asset_rows": {k: _asset_row(reader, AssetKey.from_user_string(k), run_id) for k in keys},
            "asset_row_order": _asset_row_order(reader),
            "tags": {k: sorted(sorted(t) for t in reader.event_log_storage.get_event_tags_for_asset(
                AssetKey.from_user_string(k))) for k in keys},
        }


def _asset_row_order(reader: DagsterInstance) -> list[str]:
    """The asset-key table's keys in the order their rows were created."""
    from dagster._core.storage.event_log.schema import AssetKeyTable
    from sqlalchemy import select

    with reader.event_log_storage.index_connection() as conn:
        return [r[0] for r in conn.execute(select(AssetKeyTable.c.asset_key).order_by(AssetKeyTable.c.id))]


def _asset_row(reader: DagsterInstance, key: AssetKey, run_id: str) -> tuple:
    """The asset-key table's row as Dagster reads it: the latest materialization (id, partition, run), the last
    run and the last planned materialization."""
    entry = reader.get_asset_records([key])[0].asset_entry
    last = entry.last_materialization_record
    return (last.storage_id, last.partition_key, last.run_id == run_id, entry.last_run_id == run_id,
            entry.last_planned_materialization_storage_id, entry.last_planned_materialization_run_id == run_id)


def test_same_records_as_dagsters_stock_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset_batch_size(monkeypatch)  # the project's storage sets it; restored to what it was afterwards
    stored_batches = []
    original = BatchedSqliteEventLogStorage.store_event_batch

    def spy(self, events):  # noqa: ANN001, ANN202
        stored_batches.append(len(events))
        return original(self, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", spy)
    stock = _record(_home(tmp_path, "stock", stock=True), monkeypatch)
    _unset_batch_size(monkeypatch)
    ours = _record(_home(tmp_path, "ours", stock=False), monkeypatch)

    assert stock.pop("storage") == "SqliteEventLogStorage"
    assert ours.pop("storage") == "BatchedSqliteEventLogStorage"
    assert ours == stock
    # what the run had to record: 10 days × 3 assets, one planned and one materialization event each
    days = [f"2021-01-{d:02d}" for d in range(1, 11)]
    assert ours["partitions"] == {k: days for k in ("book", "orders", "performance")}
    assert ours["events"]["ASSET_MATERIALIZATION"] == 30 and ours["events"]["ASSET_MATERIALIZATION_PLANNED"] == 30
    assert ours["checks"] == [("performance_positive", True)]
    assert ours["run_status"] == "SUCCESS"
    # and it did go through the batched path: the planned events in one batch, each output's ten in one
    assert os.environ.get(BATCH_ENV) == "1000"
    assert max(stored_batches) >= 10 and sum(stored_batches) >= 60, stored_batches


def test_pool_slots_are_claimed_and_freed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset_batch_size(monkeypatch)
    home = _home(tmp_path, "pools", stock=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        storage.set_concurrency_slots("exchange_api", 1)
        assert storage.claim_concurrency_slot("exchange_api", "run-a", "step").is_claimed
        assert not storage.claim_concurrency_slot("exchange_api", "run-b", "step").is_claimed
        with DagsterInstance.from_config(str(home)) as other:  # another process's view of the same files
            assert [s.run_id for s in other.event_log_storage.get_concurrency_info("exchange_api").claimed_slots] == ["run-a"]
        storage.free_concurrency_slots_for_run("run-a")
        assert storage.claim_concurrency_slot("exchange_api", "run-b", "step").is_claimed


@pytest.mark.parametrize(("config", "message"), [
    ({"dagster_home": "relative/home"}, "must be an absolute path"),
    ({"dagster_home": "/tmp/x", "synchronous": "OFF"}, "synchronous must be one of"),
    ({"dagster_home": "/tmp/x", "batch_size": -1}, "batch_size must be >= 0"),
])
def test_bad_config_is_refused(config: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset_batch_size(monkeypatch)
    with pytest.raises(ValueError, match=message):
        BatchedSqliteEventLogStorage(**config)


def test_without_dagster_home_the_error_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dagster dev` with no DAGSTER_HOME reads ./dagster.yaml into a temporary instance: our storage cannot know
    that folder, so it stops with the fix instead of writing events somewhere else."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    _unset_batch_size(monkeypatch)
    with pytest.raises(ValueError, match=r"DAGSTER_HOME is not set: run `make dev`"):
        BatchedSqliteEventLogStorage()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert BatchedSqliteEventLogStorage()._base_dir == str(tmp_path / "history" / "runs")
