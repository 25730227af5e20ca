"""Every definition loads; jobs, schedules and the failure sensor are wired as documented."""
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import AssetKey, Definitions, build_schedule_context

from dca_pipeline.definitions import defs

LAYERS = {
    "ingestion": {"raw_ohlcv_1d", "fx_usd_brl", "market_caps", "raw_ohlcv_1h", "raw_ohlcv_1m", "order_book_snapshots",
                  "raw_trades", "raw_retention", "symbol_listings"},
    "analytics": {"features_daily", "risk_metrics", "correlation_matrix"},
    "intelligence": {"asset_tiers", "asset_scores", "market_regime"},
    "portfolio": {"target_weights"},
    "execution": {"dca_orders", "fills", "positions", "reconciliation"},
    "monitoring": {"portfolio_performance", "backtest_report"},
    "governance": {"config_audit", "ledger_backup"},
}


def test_definitions_load_and_validate() -> None:
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    assert groups == LAYERS
    assert len(list(graph.asset_check_keys)) >= 9


def test_jobs_schedules_and_sensor() -> None:
    for name in ("daily_job", "monthly_job", "ingest_history_job", "approve_orders_job"):
        assert defs.resolve_job_def(name) is not None
    assert defs.resolve_sensor_def("run_failure_alert") is not None
    assert defs.resolve_sensor_def("daily_summary_alert") is not None
    daily = defs.resolve_schedule_def("daily_schedule")
    monthly = defs.resolve_schedule_def("monthly_schedule")
    assert daily.execution_timezone == monthly.execution_timezone == "America/Sao_Paulo"
    sp = ZoneInfo("America/Sao_Paulo")
    with build_schedule_context(scheduled_execution_time=datetime(2021, 1, 5, 1, 15, tzinfo=sp), repository_def=defs.get_repository_def()) as ctx:
        request = daily.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == "2021-01-04"  # the last closed UTC day
    with build_schedule_context(scheduled_execution_time=datetime(2021, 2, 1, 3, 0, tzinfo=sp), repository_def=defs.get_repository_def()) as ctx:
        assert monthly.evaluate_tick(ctx).run_requests[0].partition_key == "2021-02-01"


def test_daily_partitions_end_where_the_replay_can_still_fill() -> None:
    job = defs.resolve_job_def("daily_job")
    keys = job.partitions_def.get_partition_keys()
    assert keys[0] == "2018-01-01" and keys[-1] == "2025-11-12"  # the day before the bundle's last bar (Bybit 2025-11-13)
    assert AssetKey("dca_orders") in defs.resolve_asset_graph().get_all_asset_keys()
