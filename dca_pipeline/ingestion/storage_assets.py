"""Raw-store maintenance: retention of old partitions, the `raw.*` DuckDB views and the symbol listings table,
with the job and daily schedule (America/Sao_Paulo) that run them."""

from datetime import date, datetime, timezone

import duckdb
import polars as pl
from dagster import (
    AssetExecutionContext, Config, MaterializeResult, ScheduleEvaluationContext, RunRequest, asset,
    define_asset_job, in_process_executor, schedule,
)

from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.intraday import active_markets
from dca_pipeline.ingestion.listings import build_listings
from dca_pipeline.metadata import markdown_table
from dca_pipeline.resources import MarketData, Warehouse
from dca_pipeline.storage import parquet_store
from dca_pipeline.storage.retention import apply_retention

SETTINGS = cached_settings()
LISTING_GRACE_DAYS = 7  # without a market list: a symbol with no bar for a week has left the market


class RetentionConfig(Config):
    """`as_of` (YYYY-MM-DD) replaces today's UTC date, e.g. to apply retention relative to replayed history."""

    as_of: str = ""


@asset(group_name="ingestion", kinds={"parquet", "duckdb"}, deps=["raw_ohlcv_1d", "raw_ohlcv_1h", "raw_ohlcv_1m", "order_book_snapshots", "raw_trades"])
def raw_retention(context: AssetExecutionContext, config: RetentionConfig, warehouse: Warehouse) -> MaterializeResult:
    """Delete raw partitions past `storage.*_days` (and their quarantine rows); metadata lists every one removed."""
    today = date.fromisoformat(config.as_of) if config.as_of else datetime.now(timezone.utc).date()
    retention = SETTINGS.storage.retention_days()
    removed = apply_retention(retention, today, warehouse.db())
    views = parquet_store.create_views(warehouse.db())
    rows = pl.DataFrame(
        [(d, p) for d, parts in removed.items() for p in parts], schema={"dataset": pl.String, "partition": pl.String}, orient="row"
    )
    meta: dict[str, object] = {"as_of": str(today), "removed_partitions": len(rows), "views": ", ".join(views) or "none",
                               "removed": markdown_table(rows, rows=200)}
    for dataset, parts in removed.items():
        meta[f"removed_{dataset}"] = ", ".join(parts) or "none"
        meta[f"keep_days_{dataset}"] = "forever" if retention[dataset] is None else retention[dataset]
    context.log.info(f"retention as of {today}: removed {dict((d, len(p)) for d, p in removed.items())}")
    return MaterializeResult(metadata=meta)


@asset(group_name="ingestion", io_manager_key="warehouse_io_manager", metadata={"schema": "ingestion"}, deps=["raw_ohlcv_1d"], kinds={"polars", "duckdb"})
def symbol_listings(context: AssetExecutionContext, market_data: MarketData) -> pl.DataFrame:
    """Every symbol ever seen with first_seen, last_seen and delisted_on (null while listed); history keeps it."""
    dataset = "ohlcv_1d"
    if not parquet_store.stored_partitions(dataset):
        spans = pl.DataFrame(schema={"symbol": pl.String, "first_bar": pl.Date, "last_bar": pl.Date})
    else:
        con = duckdb.connect()
        try:
            spans = con.execute(
                f"select symbol, min(date) as first_bar, max(date) as last_bar from {parquet_store.scan_sql(dataset)} group by symbol"
            ).pl()
        finally:
            con.close()
    data_end = spans["last_bar"].max() if len(spans) else datetime.now(timezone.utc).date()
    listings = build_listings(spans, active_markets(market_data.client()), data_end, LISTING_GRACE_DAYS)
    gone = listings.filter(pl.col("delisted_on").is_not_null())
    context.add_output_metadata({"symbols": len(listings), "active": int(listings["active"].sum()),
                                 "delisted": len(gone), "delisted_sample": markdown_table(gone)})
    return listings


raw_maintenance_job = define_asset_job(
    "raw_maintenance_job",
    selection=["raw_retention", "symbol_listings"],
    executor_def=in_process_executor,
    description="Apply raw-data retention, refresh the raw.* views and the symbol listings.",
)


@schedule(job=raw_maintenance_job, cron_schedule="30 2 * * *", execution_timezone=SETTINGS.timezone)
def raw_maintenance_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """02:30 in São Paulo every day (after the daily ingestion at 01:15)."""
    return RunRequest(run_key=context.scheduled_execution_time.date().isoformat())


def _daily_partitions():  # noqa: ANN202 - the DailyPartitionsDefinition shared by the raw assets
    from dca_pipeline.partitions import daily_partitions

    return daily_partitions(SETTINGS)


intraday_job = define_asset_job(
    "intraday_job",
    selection=["raw_ohlcv_1h", "raw_ohlcv_1m", "raw_trades"],
    partitions_def=_daily_partitions(),
    executor_def=in_process_executor,
    description="Hourly and minute bars and public trades of one closed UTC day, with their checks.",
)
order_book_job = define_asset_job(
    "order_book_job",
    selection=["order_book_snapshots"],
    partitions_def=_daily_partitions(),
    executor_def=in_process_executor,
    description="One top-of-book snapshot per market, added to today's partition.",
)


@schedule(job=intraday_job, cron_schedule="20 1 * * *", execution_timezone=SETTINGS.timezone)
def intraday_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:20 in São Paulo: the previous UTC day is closed; ingest its intraday data."""
    from dca_pipeline.monitoring.orchestration import previous_utc_day_request

    return previous_utc_day_request(context)


@schedule(job=order_book_job, cron_schedule="0 * * * *", execution_timezone=SETTINGS.timezone)
def order_book_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Every hour: a snapshot into today's (UTC) partition (live sources only; stopped by default)."""
    now = context.scheduled_execution_time.astimezone(timezone.utc)
    return RunRequest(run_key=now.strftime("%Y-%m-%dT%H"), partition_key=now.date().isoformat())
