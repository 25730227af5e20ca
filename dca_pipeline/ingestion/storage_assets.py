"""Raw-store maintenance: retention of old partitions, the `raw.*` DuckDB views and the symbol listings table
(run by `raw_maintenance_job`, see ingestion/definitions.py)."""

from datetime import date, datetime, timezone

import duckdb
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from dca_pipeline.ingestion.intraday import active_markets
from dca_pipeline.ingestion.listings import build_listings
from dca_pipeline.metadata import markdown_table
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.partitions import cadence
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import parquet_store
from dca_pipeline.storage.retention import apply_retention

LISTING_GRACE_DAYS = 7  # without a market list: a symbol with no bar for a week has left the market


class RetentionConfig(Config):
    """`as_of` (YYYY-MM-DD) replaces today's UTC date, e.g. to apply retention relative to replayed history."""

    as_of: str = ""


@asset(group_name="ingestion", tags=cadence("maintenance"), kinds={"parquet", "duckdb"}, owners=["team:data"], deps=["raw_ohlcv_1d", "raw_ohlcv_1h", "raw_ohlcv_1m", "raw_ohlcv_5m", "order_book_snapshots", "raw_trades"])
def raw_retention(context: AssetExecutionContext, config: RetentionConfig, warehouse: Warehouse,
                  pipeline_config: PipelineConfig) -> MaterializeResult:
    """Delete raw partitions past `storage.*_days` (and their quarantine rows); metadata lists every one removed."""
    today = date.fromisoformat(config.as_of) if config.as_of else datetime.now(timezone.utc).date()
    retention = pipeline_config.settings().storage.retention_days()
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


@asset(group_name="ingestion", tags=cadence("maintenance"), io_manager_key="warehouse_io_manager", metadata={"schema": "ingestion"}, deps=["raw_ohlcv_1d"], kinds={"polars", "duckdb"}, owners=["team:data"])
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
