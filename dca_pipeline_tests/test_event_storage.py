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

from dca_pipeline import event_storage
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
    # and it did go through the batched path: the run's planned events in one batch — one per asset and one for
    # the check, each for the ten days (recorded as thirty per-partition events, compared above) — and each
    # output's ten materializations in one
    assert os.environ.get(BATCH_ENV) == "1000"
    assert stored_batches == [4, 10, 10, 10], stored_batches


def test_same_records_event_by_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With batching off (DAGSTER_EVENT_BATCH_SIZE=0) every event goes through `store_event`, the planned subsets
    included: the same records as the stock storage."""
    monkeypatch.setenv(BATCH_ENV, "0")
    stock = _record(_home(tmp_path, "stock", stock=True), monkeypatch)
    ours = _record(_home(tmp_path, "ours", stock=False), monkeypatch)
    assert ours.pop("storage") == "BatchedSqliteEventLogStorage" and stock.pop("storage") == "SqliteEventLogStorage"
    assert ours == stock
    assert ours["events"]["ASSET_MATERIALIZATION_PLANNED"] == 30


@multi_asset(outs={"orders": AssetOut(dagster_type=Nothing), "book": AssetOut(io_manager_key="mem")},
             partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run())
def failing_day(context):  # noqa: ANN001, ANN201
    raise RuntimeError("the exchange is down")
    yield  # a generator, like `day`


def _failed_and_in_progress(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A range run that fails (its ten days failed) and a created, not yet started run of the eleventh day (in
    progress), as Dagster's partition status reads them (the UI's partition bars), with the index's planned rows."""
    from dagster import Definitions, define_asset_job

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    days = [f"2021-01-{d:02d}" for d in range(1, 13)]
    with DagsterInstance.from_config(str(home)) as instance:
        result = materialize([failing_day], instance=instance, tags=RANGE, resources={"mem": InMemoryIOManager()},
                             run_config=QUIET, raise_on_error=False)
        assert not result.success
        job = Definitions(assets=[failing_day], jobs=[define_asset_job("pending", [failing_day], partitions_def=DAILY)],
                          resources={"mem": InMemoryIOManager()}).get_job_def("pending")
        instance.create_run_for_job(job, tags={"dagster/partition": "2021-01-11"})
    with DagsterInstance.from_config(str(home)) as reader:
        return {key: {day: status and status.value for day, status in reader.get_status_by_partition(AssetKey(key), days, DAILY).items()}
                for key in ("orders", "book")} | {"planned": _planned_rows(reader)}


def _planned_rows(reader: DagsterInstance) -> list[tuple]:
    """The index's planned-materialization rows in id order: asset, partition, step, and the event (its
    timestamp, the run's and the process's own values left out)."""
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as T
    from dagster._serdes import deserialize_value
    from sqlalchemy import select

    with reader.event_log_storage.index_connection() as conn:
        rows = conn.execute(select(T.c.asset_key, T.c.partition, T.c.step_key, T.c.event)
                            .where(T.c.dagster_event_type == "ASSET_MATERIALIZATION_PLANNED").order_by(T.c.id)).all()
    out = []
    for asset_key, partition, step_key, text in rows:
        entry = deserialize_value(text)
        event = entry.dagster_event
        out.append((asset_key, partition, step_key, event.event_specific_data, event.message, event.step_key,
                    entry.level, entry.user_message, entry.step_key))
    return out


def test_failed_and_in_progress_partitions_as_with_dagsters_stock_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planned events come to the storage as one subset per asset and are recorded per partition: failed and
    in-progress partitions read as with the stock storage. Dagster's own subset mode (its environment variable,
    which this storage's setting stands in for) loses them: that is what the per-partition records are for."""
    _unset_batch_size(monkeypatch)
    stock = _failed_and_in_progress(_home(tmp_path, "stock", stock=True), monkeypatch)
    _unset_batch_size(monkeypatch)
    ours = _failed_and_in_progress(_home(tmp_path, "ours", stock=False), monkeypatch)
    assert ours == stock
    expected = {f"2021-01-{d:02d}": "FAILED" for d in range(1, 11)} | {"2021-01-11": "IN_PROGRESS", "2021-01-12": None}
    assert ours["orders"] == ours["book"] == expected
    assert len(ours["planned"]) == 22 and {r[1] for r in ours["planned"]} == set(expected) - {"2021-01-12"}

    _unset_batch_size(monkeypatch)
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    subset_mode = _failed_and_in_progress(_home(tmp_path, "stock_subsets", stock=True), monkeypatch)
    assert set(subset_mode["orders"].values()) == {None}  # what the stock storage shows in its subset mode


def test_planned_rows_serialize_as_dagster_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each per-partition planned row is the one serialization with the key put in: the same text as
    `serialize_value` of that partition's event, for keys JSON has to escape too."""
    from dagster import StaticPartitionsDefinition
    from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent
    from dagster._core.events.log import EventLogEntry
    from dagster._serdes import serialize_value

    _unset_batch_size(monkeypatch)
    keys = ["2021-01-01", 'quote"d', "back\\slash", "ação", "emoji 🚀", "x" * 300]
    subset = StaticPartitionsDefinition(keys).empty_subset().with_partition_keys(keys)
    planned = DagsterEvent.build_asset_materialization_planned_event(
        "job", "step", AssetMaterializationPlannedData(AssetKey(["a", "b"]), partitions_subset=subset))
    entry = EventLogEntry(error_info=None, level=10, user_message="", run_id="run", timestamp=1.5, step_key="step",
                          job_name="job", dagster_event=planned)
    storage = BatchedSqliteEventLogStorage(str(tmp_path))
    stored, rows = storage._rows([entry])
    in_order = list(subset.get_partition_keys())  # the order Dagster would send them in
    assert sorted(in_order) == sorted(keys)
    assert [e.dagster_event.partition for e in stored] == [r["partition"] for r in rows] == in_order
    assert [r["event"] for r in rows] == [serialize_value(e) for e in stored]
    assert all(e.dagster_event.event_specific_data.partitions_subset is None for e in stored)


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


def test_a_new_runs_file_is_the_blank_one_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first new run's file goes through Dagster's `_initdb`; the next ones are copies of it as it was then:
    same tables, indexes, alembic revision and WAL mode, and they hold their own events. A file another process
    has created meanwhile is left alone (initialized, not overwritten)."""
    import sqlite3

    from dagster._core.events.log import EventLogEntry

    _unset_batch_size(monkeypatch)
    storage = BatchedSqliteEventLogStorage(str(tmp_path))
    assert storage._base_dir not in event_storage._BLANK_RUN_DB  # a new folder: the first run goes through _initdb
    initdb_calls = []
    original = BatchedSqliteEventLogStorage._initdb
    monkeypatch.setattr(BatchedSqliteEventLogStorage, "_initdb", lambda self, engine, **kw: initdb_calls.append(str(engine.url)) or original(self, engine, **kw))

    def log(run_id: str, text: str) -> None:
        storage.store_event(EventLogEntry(error_info=None, level=20, user_message=text, run_id=run_id, timestamp=1.0,
                                          step_key=None, job_name="job", dagster_event=None))

    def shape(run_id: str) -> tuple:
        with sqlite3.connect(storage.path_for_shard(run_id)) as con:
            return (sorted(con.execute("select type, name, sql from sqlite_master").fetchall()),
                    con.execute("select version_num from alembic_version").fetchall(),
                    con.execute("pragma journal_mode").fetchone())

    log("first", "one")
    log("second", "two")
    Path(storage.path_for_shard("third")).touch()  # created meanwhile by another process, still empty
    log("third", "three")
    assert [u.rsplit("/", 1)[-1] for u in initdb_calls] == ["first.db", "third.db"]
    assert shape("second") == shape("first") == shape("third")
    assert shape("first")[2] == ("wal",) and shape("first")[1]
    assert [[e.user_message for e in storage.get_logs_for_run(r)] for r in ("first", "second", "third")] == [["one"], ["two"], ["three"]]
    assert not list(tmp_path.glob("history/runs/.new-*")) and not list(tmp_path.glob(".new-*"))
