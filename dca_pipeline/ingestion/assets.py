"""Ingestion assets: daily BRL bars, USD/BRL and monthly market caps, with their data-quality checks."""

from datetime import timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetCheckExecutionContext,
    BackfillPolicy,
    asset,
    asset_check,
)
from dagster import Backoff, Jitter, RetryPolicy

from dca_pipeline.metadata import markdown_table
from dca_pipeline.ingestion.row_rules import missing_symbol_days, split_valid_ohlcv
from dca_pipeline.partitions import DAILY, MONTHLY, cadence, month_start
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.storage.raw_store import read_quarantine, write_quarantine_range
from dca_pipeline.storage.resources import Warehouse

GROUP = "ingestion"
# exchange and reference APIs fail transiently: retry with exponential backoff and jitter before failing the run
NETWORK_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
# daily raw data: one Parquet file per day, a range backfilled in one run, one exchange call at a time
DAILY_RAW = dict(
    group_name=GROUP,
    tags=cadence("daily"),  # daily_job and ingest_history_job
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="parquet_io_manager",
    pool="exchange_api",
    retry_policy=NETWORK_RETRY,
    kinds={"polars", "parquet"},
    owners=["team:data"],
)


_preview = markdown_table


@asset(**DAILY_RAW)
def raw_ohlcv_1d(context: AssetExecutionContext, market_data: MarketData, warehouse: Warehouse) -> pl.DataFrame:
    """Every listed symbol's daily bar in BRL; invalid rows go to `ingestion.quarantine` with a reason."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - timedelta(days=1)
    client = market_data.client()
    bars = client.fetch_ohlcv_1d(start, end)
    # partitions run to today; a window wholly outside the replay's data raises DataRangeError naming its range.
    # A day inside it with nothing delivered is judged by the checks (quarantine share, prices for held/targeted).
    valid, quarantined = split_valid_ohlcv(bars)
    write_quarantine_range(warehouse.db(), "raw_ohlcv_1d", list(context.partition_keys), quarantined, market_data.source)
    context.add_output_metadata(
        {
            "source": market_data.source,
            "symbols": valid["symbol"].n_unique(),
            "quarantined_rows": len(quarantined),
            "quarantine_sample": _preview(quarantined.select("symbol", "date", "reason")),
        }
    )
    return valid


@asset(**DAILY_RAW)
def fx_usd_brl(context: AssetExecutionContext, market_data: MarketData) -> pl.DataFrame:
    """USD/BRL per calendar day; weekends and holidays carry the last published rate (`is_filled`)."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - timedelta(days=1)
    fx = market_data.client().fetch_fx_usd_brl(start, end)
    context.add_output_metadata({"filled_days": int(fx["is_filled"].sum()), "last_rate": float(fx["usd_brl"][-1])})
    return fx


@asset(
    group_name=GROUP,
    tags=cadence("monthly"),
    partitions_def=MONTHLY,
    io_manager_key="parquet_io_manager",
    metadata={"partition_column": "month"},
    pool="exchange_api",
    retry_policy=NETWORK_RETRY,
    kinds={"polars", "parquet"},
    owners=["team:data"],
)
def market_caps(context: AssetExecutionContext, market_data: MarketData) -> pl.DataFrame:
    """Market caps known at the start of the month (latest snapshot on or before it: no look-ahead)."""
    month = month_start(context.partition_key)
    caps = market_data.client().fetch_market_caps(month)
    context.add_output_metadata(
        {"snapshot_date": str(caps["snapshot_date"][0]), "coins": len(caps)}
    )
    return caps.with_columns(pl.lit(month).alias("month")).select(
        "month", "snapshot_date", "symbol", "base", "market_cap_usd"
    )


# Row rules (low <= open, close <= high, positive prices, volume >= 0) and one bar per (symbol, date) hold by
# construction on the stored rows (`split_valid_ohlcv` quarantines every other row): unit-tested in
# test_quality_properties.py, not gates. The gates judge what the source delivered (quality_checks.py).


@asset_check(asset=raw_ohlcv_1d, partitions_def=DAILY, description="every symbol the market lists has a valid bar for every day")
def no_missing_symbol_days(
    context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame, market_data: MarketData, warehouse: Warehouse
) -> AssetCheckResult:
    days = raw_ohlcv_1d["date"]
    if days.is_empty():
        return AssetCheckResult(passed=False, metadata={"error": "partition holds no bars at all"})
    expected = market_data.client().listed_symbols(days.min(), days.max())
    quarantined = read_quarantine(warehouse.db(), "raw_ohlcv_1d", days.min(), days.max()).select("symbol", "date", "reason")
    missing = missing_symbol_days(raw_ohlcv_1d, expected).join(quarantined, on=["symbol", "date"], how="left")
    missing = missing.with_columns(pl.col("reason").fill_null("not delivered by the source"))
    return AssetCheckResult(
        passed=missing.is_empty(),
        severity=AssetCheckSeverity.WARN,
        metadata={"missing_symbol_days": len(missing), "expected": len(expected), "sample": _preview(missing)},
    )
