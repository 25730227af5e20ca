"""Intraday and microstructure assets (daily UTC partitions): hourly, five-minute and minute bars, order-book snapshots
and public trades, each stored in the Hive Parquet store; their data-quality checks live in quality_checks.py."""

from datetime import date, datetime, timedelta, timezone

import polars as pl
from dagster import AssetExecutionContext, asset

from dca_pipeline.ingestion.assets import NETWORK_RETRY
from dca_pipeline.config import Settings
from dca_pipeline.ingestion.intraday import Ingested, active_markets, ingest_bars, ingest_order_books, ingest_trades, wanted_symbols
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import DAILY, cadence
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import parquet_store, quarantine

INTRADAY = dict(
    group_name="ingestion",
    tags=cadence("intraday"),  # intraday_job
    partitions_def=DAILY,
    io_manager_key="parquet_io_manager",
    pool="exchange_api",
    retry_policy=NETWORK_RETRY,
    kinds={"polars", "parquet"},
    owners=["team:data"],
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _finish(context: AssetExecutionContext, warehouse: Warehouse, dataset: str, result: Ingested,
            keep_old_rejects: bool = False) -> pl.DataFrame:
    """Store the rejected rows in the quarantine table (replacing this partition's), attach metadata, return rows."""
    key = context.partition_key
    source = str(result.metadata.get("source", ""))
    records = quarantine.to_records(dataset, key, result.rejected, source) if not result.rejected.is_empty() else None
    if keep_old_rejects:  # order books: earlier snapshots' rejects stay, this snapshot's are replaced
        old = quarantine.read(warehouse.db(), dataset, key, key)
        if records is not None:
            old = old.join(records.select("symbol", "ts").unique(), on=["symbol", "ts"], how="anti")
        records = pl.concat([old, records], how="vertical_relaxed") if records is not None else old
    quarantine.replace(warehouse.db(), dataset, key, records if records is not None else pl.DataFrame(schema=quarantine.COLUMNS))
    meta = dict(result.metadata)
    if not result.rejected.is_empty():
        cols = [c for c in ("symbol", "ts", "reason") if c in result.rejected.columns]
        meta["quarantine_sample"] = markdown_table(result.rejected.select(cols))
    context.add_output_metadata(meta)
    return parquet_store.conform(dataset, result.rows)


def _bars(context: AssetExecutionContext, market_data: MarketData, warehouse: Warehouse, settings: Settings,
          timeframe: str) -> pl.DataFrame:
    day = date.fromisoformat(context.partition_key)
    dataset = f"ohlcv_{timeframe}"
    client = market_data.client()
    markets = active_markets(client)
    symbols = wanted_symbols(settings.storage.intraday_symbols, markets)
    max_fill = getattr(settings.storage, f"max_fill_bars_{timeframe}")
    previous = parquet_store.read_partition(dataset, day - timedelta(days=1))
    result = ingest_bars(client, timeframe, day, symbols, markets, max_fill, previous, _now())
    return _finish(context, warehouse, dataset, result)


@asset(**INTRADAY)
def raw_ohlcv_1h(context: AssetExecutionContext, market_data: MarketData, pipeline_config: PipelineConfig,
                 warehouse: Warehouse) -> pl.DataFrame:
    """Hourly BRL bars of the day; gaps of up to `storage.max_fill_bars_1h` bars filled and flagged `filled`."""
    return _bars(context, market_data, warehouse, pipeline_config.settings(), "1h")


@asset(**INTRADAY)
def raw_ohlcv_1m(context: AssetExecutionContext, market_data: MarketData, pipeline_config: PipelineConfig,
                 warehouse: Warehouse) -> pl.DataFrame:
    """Minute BRL bars of the day; gaps of up to `storage.max_fill_bars_1m` bars filled and flagged `filled`."""
    return _bars(context, market_data, warehouse, pipeline_config.settings(), "1m")


@asset(**INTRADAY)
def raw_ohlcv_5m(context: AssetExecutionContext, market_data: MarketData, pipeline_config: PipelineConfig,
                 warehouse: Warehouse) -> pl.DataFrame:
    """Five-minute BRL bars of the day (aggregated from minute bars where the exchange has no 5m candles); gaps of
    up to `storage.max_fill_bars_5m` bars filled and flagged `filled`."""
    return _bars(context, market_data, warehouse, pipeline_config.settings(), "5m")


@asset(**{**INTRADAY, "tags": cadence("hourly")}, metadata={"dataset": "order_book"})  # order_book_job
def order_book_snapshots(context: AssetExecutionContext, market_data: MarketData, pipeline_config: PipelineConfig,
                 warehouse: Warehouse) -> pl.DataFrame:
    """Top `storage.order_book_depth` levels of each book, one snapshot per run of today's partition."""
    day = date.fromisoformat(context.partition_key)
    client = market_data.client()
    symbols = wanted_symbols(pipeline_config.settings().storage.intraday_symbols, active_markets(client))
    existing = parquet_store.read_partition("order_book", day)
    result = ingest_order_books(client, day, symbols, pipeline_config.settings().storage.order_book_depth, existing, _now())
    return _finish(context, warehouse, "order_book", result, keep_old_rejects=True)


@asset(**INTRADAY, metadata={"dataset": "trades"})
def raw_trades(context: AssetExecutionContext, market_data: MarketData, pipeline_config: PipelineConfig,
                 warehouse: Warehouse) -> pl.DataFrame:
    """Public trades of the day per symbol; a rerun replaces the day's trades."""
    day = date.fromisoformat(context.partition_key)
    client = market_data.client()
    symbols = wanted_symbols(pipeline_config.settings().storage.intraday_symbols, active_markets(client))
    return _finish(context, warehouse, "trades", ingest_trades(client, day, symbols))
