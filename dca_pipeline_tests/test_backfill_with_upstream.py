"""A few days of `dca_orders` on a fresh instance, launched with their upstream as one asset backfill (backfills.py)
and run by Dagster's own backfill daemon loop in this process: every upstream partition the days need is
materialized, in dependency order, and the days' orders are planned.

The expected partitions are written out by hand from what each asset reads (not from the partition mappings under
test): the month's regime reads the 1100 days before February 2018, which starts before the data (2017-01-01), and
a day's orders read the 400 days up to it, so raw bars run from 2017-01-01 to the last requested day; the scores
read the January features (the eve is 2018-01-31); the monthly chain is February's.
"""
import logging
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from dca_pipeline.paths import PROJECT_ROOT

DAYS = ["2018-02-01", "2018-02-02", "2018-02-03"]


def _days(first: str, last: str) -> set[str]:
    from datetime import date, timedelta

    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)}


EXPECTED = {
    "raw_ohlcv_1d": _days("2017-01-01", "2018-02-03"),
    "features_daily": _days("2018-01-01", "2018-01-31"),
    "market_caps": {"2018-02-01"},
    "asset_tiers": {"2018-02-01"},
    "asset_scores": {"2018-02-01"},
    "market_regime": {"2018-02-01"},
    "target_weights": {"2018-02-01"},
    "dca_orders": set(DAYS),
}


def _instance(home: Path) -> DagsterInstance:
    """The project's instance settings (pools, retries) with runs launched synchronously in this process."""
    text = (PROJECT_ROOT / "dagster.yaml").read_text()
    text += (
        "\nrun_launcher:\n  module: dagster._core.launcher.sync_in_memory_run_launcher\n  class: SyncInMemoryRunLauncher\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    (home / "dagster.yaml").write_text(text)
    return DagsterInstance.from_config(str(home))


def _span(first: str, last: str) -> str:
    return f"{first}...{last} ({len(_days(first, last))})" if first != last else first


def test_the_backfill_target_is_every_missing_upstream_partition(tmp_path: Path) -> None:
    """June 2025 of dca_orders on a fresh instance: the regime reads 1100 days before June, i.e. the 40 whole months
    from 2022-02 (1100/28 rounded up), the orders the 400 days up to each day, the scores May's features; once June's
    targets are stored, only the days' own window of raw bars (400 days before 2025-06-01 is 2024-04-27) remains."""
    from dagster import AssetMaterialization

    from dca_pipeline.backfills import describe, upstream_closure
    from dca_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    june = sorted(_days("2025-06-01", "2025-06-30"))
    with DagsterInstance.ephemeral() as instance:
        assert describe(upstream_closure(graph, instance, AssetKey("dca_orders"), june)) == {
            "asset_scores": "2025-06-01", "asset_tiers": "2025-06-01", "dca_orders": _span("2025-06-01", "2025-06-30"),
            "features_daily": _span("2025-05-01", "2025-05-31"), "market_caps": "2025-06-01",
            "market_regime": "2025-06-01", "raw_ohlcv_1d": _span("2022-02-01", "2025-06-30"), "target_weights": "2025-06-01",
        }
        instance.report_runless_asset_event(AssetMaterialization("target_weights", partition="2025-06-01"))
        assert describe(upstream_closure(graph, instance, AssetKey("dca_orders"), june)) == {
            "dca_orders": _span("2025-06-01", "2025-06-30"), "raw_ohlcv_1d": _span("2024-04-27", "2025-06-30"),
        }
        for day in _days("2024-04-27", "2025-06-15"):  # half the window stored: only the rest is asked for
            instance.report_runless_asset_event(AssetMaterialization("raw_ohlcv_1d", partition=day))
        assert describe(upstream_closure(graph, instance, AssetKey("dca_orders"), june)) == {
            "dca_orders": _span("2025-06-01", "2025-06-30"), "raw_ohlcv_1d": _span("2025-06-16", "2025-06-30"),
        }


# slow: seven runs, each a fresh process per step (the code location's multiprocess executor), and 13 months of raw
# bars, a month of features and the regime fit; 342–492 s under load from other sessions, far above a minute
@pytest.mark.slow
def test_month_of_orders_with_upstream_on_fresh_instance(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration

    from dca_pipeline.backfills import BACKFILL_TAG
    from dca_pipeline.definitions import defs
    from dca_pipeline.storage import duck

    home = tmp_path / "instance"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = _instance(home)
    assert all(not instance.get_materialized_partitions(AssetKey(k)) for k in EXPECTED)  # fresh

    target = ModuleTarget(module_name="dca_pipeline.definitions", attribute=None, working_directory=str(PROJECT_ROOT),
                          location_name="dca_pipeline")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        result = defs.resolve_job_def("materialize_with_upstream_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"backfill_with_upstream": {"config": {"asset": "dca_orders", "first_partition": DAYS[0],
                                                                       "last_partition": DAYS[-1]}}}},
        )
        backfill_id = result.output_for_node("backfill_with_upstream")
        backfill = instance.get_backfill(backfill_id)
        assert backfill.tags[BACKFILL_TAG] == "dca_orders 2018-02-01...2018-02-03"
        logger = logging.getLogger("backfill_test")
        for _ in range(30):  # one daemon iteration launches the partitions whose upstream is done
            list(execute_backfill_iteration(workspace, logger))
            backfill = instance.get_backfill(backfill_id)
            if backfill.status != BulkActionStatus.REQUESTED:
                break
        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, backfill.status

    for name, expected in EXPECTED.items():
        got = set(instance.get_materialized_partitions(AssetKey(name)))
        assert expected <= got, f"{name}: missing {sorted(expected - got)[:5]}"
    # only what the days need: no later raw bars, no other month's features, no fills (not requested)
    assert max(instance.get_materialized_partitions(AssetKey("raw_ohlcv_1d"))) == "2018-02-03"
    assert set(instance.get_materialized_partitions(AssetKey("features_daily"))) == EXPECTED["features_daily"]
    assert not instance.get_materialized_partitions(AssetKey("fills"))
    runs = instance.get_runs()
    assert all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs if not r.is_success]

    from dca_pipeline.paths import warehouse_path as db_path

    # each day's plan is recorded (its contribution is the plan's first event); February 2018's optimization finds no
    # eligible asset (21 coins tiered and scored, "everything stays in cash"), so the days place no order
    planned = duck.query(db_path(), "select date::varchar as d from execution.events where kind = 'contribution' order by d")
    assert planned["d"].to_list() == DAYS
    duck.close_all()
    shutil.rmtree(home, ignore_errors=True)
