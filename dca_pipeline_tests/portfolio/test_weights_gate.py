"""`target_weights : weights_within_caps` (and the target_weights GX suite) stop the month on real bad input.

The bad input: last month's stored targets restored in percent instead of fractions (a restore from a
spreadsheet export: 12.5 where 0.125 was stored). The turnover cap blends this month's optimum with last
month's targets, so the blend inherits the scale; each weight is still clipped to its cap, but together
they invest more than the whole budget. The real monthly assets run for February 2021 on a copy of the
session's January (conftest), with a stand-in for what reads the targets downstream: the blocking checks
fail and the downstream asset is not materialised. With January's targets as stored, the same run passes.
"""
from datetime import date

from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, MaterializeResult, asset, define_asset_job

from dca_pipeline.definitions import defs as project
from dca_pipeline.partitions import MONTHLY
from dca_pipeline.portfolio.definitions import MONTHLY_SELECTION
from dca_pipeline.runner import QUIET
from dca_pipeline.storage import duck
from dca_pipeline_tests.months import copy_home, env

MONTH = date(2021, 2, 1)
JANUARY = date(2021, 1, 1)


@asset(partitions_def=MONTHLY, deps=[AssetKey("target_weights")])
def reads_targets() -> MaterializeResult:
    """Stands in for what consumes the month's targets (the daily orders)."""
    return MaterializeResult()


def _run(home):  # noqa: ANN001, ANN202
    job = define_asset_job("monthly_and_reader", selection=MONTHLY_SELECTION | AssetSelection.assets(reads_targets), partitions_def=MONTHLY)
    defs = Definitions(assets=[*project.assets, reads_targets], asset_checks=project.asset_checks, jobs=[job],
                       resources=project.resources)
    with env(DCA_HOME=str(home)), DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("monthly_and_reader").execute_in_process(
            instance=instance, run_config=QUIET, partition_key=MONTH.isoformat(), raise_on_error=False)
        weights = duck.query(home / "warehouse.duckdb", "select symbol, weight, cap from portfolio.target_weights where month = ?", [MONTH])
    return result, weights


def _checks(result) -> dict[str, bool]:  # noqa: ANN001
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


def _materialized(result) -> set[str]:  # noqa: ANN001
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_last_months_targets_restored_in_percent_block_the_month(january_2021, tmp_path) -> None:  # noqa: ANN001
    home = copy_home(january_2021.home, tmp_path / "dca_home")
    db = home / "warehouse.duckdb"
    stored = duck.query(db, "select symbol, weight, cap from portfolio.target_weights where month = ?", [JANUARY])
    assert stored.height > 0 and float(stored["weight"].sum()) <= 1 + 1e-9
    with duck.transaction(db) as con:
        con.execute("update portfolio.target_weights set weight = weight * 100 where month = ?", [JANUARY])
    duck.close_all()

    result, weights = _run(home)
    checks = _checks(result)
    assert checks["target_weights:weights_within_caps"] is False
    assert checks["target_weights:gx_expectations"] is False  # the GX suite's sum rule sees it too
    assert not result.success
    assert "target_weights" in _materialized(result) and "reads_targets" not in _materialized(result)
    # what the check saw, recomputed here: every weight within its cap, yet more than the whole budget invested
    assert (weights["weight"] <= weights["cap"] + 1e-6).all() and float(weights["weight"].sum()) > 1 + 1e-6


def test_the_same_month_passes_on_januarys_targets_as_stored(january_2021, tmp_path) -> None:  # noqa: ANN001
    result, weights = _run(copy_home(january_2021.home, tmp_path / "dca_home"))
    checks = _checks(result)
    assert checks["target_weights:weights_within_caps"] is True and checks["target_weights:gx_expectations"] is True
    assert result.success and "reads_targets" in _materialized(result)
    assert float(weights["weight"].sum()) <= 1 + 1e-6 and (weights["weight"] <= weights["cap"] + 1e-6).all()
