"""Analytics assets: daily features computed from a lookback window of stored raw bars."""

from datetime import date, timedelta

import polars as pl
from dagster import AssetExecutionContext, AssetCheckResult, asset, asset_check

from dca_pipeline.analytics.indicators import compute_features
from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.partitions import daily_partitions
from dca_pipeline.storage.raw_store import read_daily_window

DAILY = daily_partitions(cached_settings())
LOOKBACK_DAYS = 400  # SMA 200 and 90-day volatility need this much history, with room for gaps


def features_for_day(day: date) -> pl.DataFrame:
    """Features of `day` from the stored raw bars of the preceding LOOKBACK_DAYS days."""
    history = read_daily_window("raw_ohlcv_1d", day - timedelta(days=LOOKBACK_DAYS - 1), day)
    if history.is_empty():
        raise FileNotFoundError(f"no stored raw_ohlcv_1d bars up to {day}: materialize raw_ohlcv_1d first")
    return compute_features(history).filter(pl.col("date") == day)


@asset(
    group_name="analytics",
    partitions_def=DAILY,
    deps=[raw_ohlcv_1d],
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "analytics", "partition_column": "date"},
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
)
def features_daily(context: AssetExecutionContext) -> pl.DataFrame:
    """Log return, SMA 20/50/200, EMA 12/26, MACD, RSI 14, Bollinger 20/2, ATR 14, 30/90-day vol (×√365)."""
    day = date.fromisoformat(context.partition_key)
    features = features_for_day(day)
    context.add_output_metadata(
        {
            "symbols": len(features),
            "with_sma_200": int(features["sma_200"].is_not_null().sum()),
            "history_window_days": LOOKBACK_DAYS,
        }
    )
    return features


@asset_check(asset=features_daily, partitions_def=DAILY, description="RSI within [0, 100], volatilities and ATR non-negative")
def features_in_range(features_daily: pl.DataFrame) -> AssetCheckResult:
    bad = features_daily.filter(
        ~pl.col("rsi_14").is_between(0, 100)
        | (pl.col("vol_30") < 0)
        | (pl.col("vol_90") < 0)
        | (pl.col("atr_14") < 0)
    )
    return AssetCheckResult(passed=bad.is_empty(), metadata={"out_of_range_rows": len(bad)})
