"""Every definition loads; jobs, schedules and the failure sensor are wired as documented."""
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import AssetKey, Definitions, build_schedule_context

from dca_pipeline.definitions import defs

LAYERS = {
    "ingestion": {"raw_ohlcv_1d", "fx_usd_brl", "market_caps", "raw_ohlcv_1h", "raw_ohlcv_1m", "raw_ohlcv_5m", "order_book_snapshots",
                  "raw_trades", "raw_retention", "symbol_listings"},
    "analytics": {"features_daily", "risk_metrics", "correlation_matrix"},
    "intelligence": {"asset_tiers", "asset_scores", "market_regime"},
    "portfolio": {"target_weights"},
    "execution": {"dca_orders", "fills", "positions", "reconciliation", "execution_tca"},
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


def test_partitions_run_from_2017_to_the_last_closed_utc_day() -> None:
    from datetime import datetime, timedelta, timezone

    daily = defs.resolve_job_def("daily_job").partitions_def
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    assert daily.get_first_partition_key() == "2017-01-01" and daily.get_last_partition_key() == yesterday
    monthly = defs.resolve_job_def("monthly_job").partitions_def
    assert monthly.get_first_partition_key() == "2017-01-01"
    assert monthly.get_last_partition_key() == yesterday[:8] + "01" or monthly.get_last_partition_key() > yesterday[:8]
    assert AssetKey("dca_orders") in defs.resolve_asset_graph().get_all_asset_keys()


def test_a_replay_day_past_the_bundle_fails_with_the_bundle_range() -> None:
    import pytest
    from dagster import DagsterInstance, materialize

    from dca_pipeline.ingestion.assets import raw_ohlcv_1d
    from dca_pipeline.ingestion.resources import MarketData
    from dca_pipeline.storage.definitions import defs as storage

    resources = {"market_data": MarketData(source="replay"), **storage.resources}
    with DagsterInstance.ephemeral() as instance, pytest.raises(Exception) as info:
        materialize([raw_ohlcv_1d], partition_key="2026-01-05", resources=resources, instance=instance)
    assert "2014-09-17 → 2025-11-13" in str(info.value)  # the bundle's first and last bar (data/ohlcv_1d_usd.parquet)


def test_jobs_select_the_documented_assets() -> None:
    """Jobs select by layer group and cadence tag; these are the assets each ran when they were lists of names."""
    expected = {
        "daily_job": {"raw_ohlcv_1d", "fx_usd_brl", "features_daily", "risk_metrics", "correlation_matrix",
                      "dca_orders", "fills", "reconciliation", "positions", "portfolio_performance", "execution_tca"},
        "monthly_job": {"market_caps", "asset_tiers", "asset_scores", "market_regime", "target_weights"},
        "ingest_history_job": {"raw_ohlcv_1d", "fx_usd_brl"},
        "raw_maintenance_job": {"raw_retention", "symbol_listings"},
        "intraday_job": {"raw_ohlcv_1h", "raw_ohlcv_1m", "raw_ohlcv_5m", "raw_trades"},
        "order_book_job": {"order_book_snapshots"},
        "ledger_backup_job": {"ledger_backup"},
    }
    for name, assets in expected.items():
        selected = defs.resolve_job_def(name).asset_layer.selected_asset_keys
        assert {k.to_user_string() for k in selected} == assets, name


def test_each_layer_owns_its_wiring() -> None:
    """Every asset comes from the definitions of the layer folder named by its group."""
    import importlib

    for layer, assets in LAYERS.items():
        layer_defs = importlib.import_module(f"dca_pipeline.{layer}.definitions").defs
        keys = {k.to_user_string() for a in layer_defs.assets for k in a.keys}
        assert keys == assets, layer


def test_every_asset_explains_itself_in_the_ui() -> None:
    """Description, owners, kinds among the storage/compute ones the project uses, and a code reference to its file."""
    from pathlib import Path

    from dagster import CodeReferencesMetadataValue, LocalFileCodeReference

    graph = defs.resolve_asset_graph()
    package = Path(__file__).resolve().parents[1] / "dca_pipeline"
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and len(node.description) > 20, name
        assert node.owners and all(o.startswith("team:") for o in node.owners), name
        assert node.kinds & {"duckdb", "polars", "parquet"}, (name, node.kinds)
        refs = node.metadata.get("dagster/code_references")
        assert isinstance(refs, CodeReferencesMetadataValue), name
        files = [Path(r.file_path) for r in refs.code_references if isinstance(r, LocalFileCodeReference)]
        assert files and all(f.is_file() and package in f.parents for f in files), (name, files)
