"""The Dagster code location: every layer's assets, checks, resources, jobs, schedules and sensors."""
from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules, multiprocess_executor

from dca_pipeline.analytics import assets as analytics_assets
from dca_pipeline.config import cached_settings
from dca_pipeline.execution import assets as execution_assets
from dca_pipeline.execution.approval import approve_orders_job
from dca_pipeline.ingestion import assets as ingestion_assets
from dca_pipeline.ingestion import intraday_assets, quality_checks, storage_assets
from dca_pipeline.intelligence import assets as intelligence_assets
from dca_pipeline.monitoring import assets as monitoring_assets
from dca_pipeline.monitoring.recovery import recovering
from dca_pipeline.monitoring.orchestration import (
    daily_job,
    daily_schedule,
    ingest_history_job,
    monthly_job,
    monthly_schedule,
    run_failure_alert,
    daily_summary_alert,
    stale_data_alert,
    circuit_breaker_alert,
)
from dca_pipeline.portfolio import assets as portfolio_assets
from dca_pipeline.governance import assets as governance_assets
from dca_pipeline.governance.assets import GOVERNANCE_JOBS, GOVERNANCE_SCHEDULES
from dca_pipeline.governance.secrets import install_redaction
from dca_pipeline.resources import Broker, MarketData, PipelineConfig, Warehouse
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager, WarehouseIOManager

LAYER_MODULES = [
    ingestion_assets,
    analytics_assets,
    intelligence_assets,
    portfolio_assets,
    execution_assets,
    monitoring_assets,
    intraday_assets,
    quality_checks,
    storage_assets,
    governance_assets,
]
install_redaction()  # secrets masked in log records, Dagster's serialized errors and governance metadata


def build_resources() -> dict[str, object]:
    """Resources from the validated configuration; paths default to $DCA_HOME at run time."""
    settings = cached_settings()
    return {
        "config": PipelineConfig(),
        "pipeline_config": PipelineConfig(),  # same settings, for assets whose `config` is run configuration
        "market_data": MarketData(source=settings.source, **settings.connectors.resource_kwargs()),
        "broker": Broker(mode=settings.broker),
        "warehouse": Warehouse(),
        "warehouse_io_manager": WarehouseIOManager(),
        "parquet_io_manager": ParquetPartitionIOManager(),
    }


defs = Definitions(
    assets=load_assets_from_modules(LAYER_MODULES),
    asset_checks=load_asset_checks_from_modules(LAYER_MODULES),
    jobs=[daily_job, monthly_job, ingest_history_job, approve_orders_job, storage_assets.raw_maintenance_job,
          storage_assets.intraday_job, storage_assets.order_book_job, *GOVERNANCE_JOBS],
    schedules=[daily_schedule, monthly_schedule, storage_assets.raw_maintenance_schedule,
               storage_assets.intraday_schedule, storage_assets.order_book_schedule, *GOVERNANCE_SCHEDULES],
    sensors=[run_failure_alert, daily_summary_alert, stale_data_alert, circuit_breaker_alert],
    resources=build_resources(),
    # Ad-hoc materializations from the UI run a process per step (parallel where the graph allows); DuckDB
    # access waits for the file lock and releases it when each step ends. The scheduled jobs run in process.
    executor=recovering(multiprocess_executor.configured({"max_concurrent": 2})),  # frees dead runs' pool slots first
)
