"""Analytics assets: daily features computed from a lookback window of stored raw bars."""

from datetime import date, timedelta

import polars as pl
from dagster import AssetCheckResult, AssetDep, AssetExecutionContext, BackfillPolicy, asset, asset_check

from dca_pipeline.analytics import statistics, transforms
from dca_pipeline.analytics.indicators import FEATURE_WINDOW_DAYS, compute_features
from dca_pipeline.ingestion.corporate_actions import history_as_of
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.partitions import DAILY, cadence, days_up_to
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.raw_store import read_daily_window

# every analytics asset: a daily table `analytics.<asset>` computed from stored raw bars
DAILY_TABLE = dict(
    group_name="analytics",
    tags=cadence("daily"),
    partitions_def=DAILY,
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "analytics", "partition_column": "date"},
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
    owners=["team:data"],
)
LOOKBACK_DAYS = FEATURE_WINDOW_DAYS  # SMA 200 and 90-day volatility need this much history, with room for gaps
RISK_WINDOW_DAYS = 365
CORRELATION_WINDOW_DAYS = 90


def raw_window(days: int) -> list[AssetDep]:
    """The dependency on the stored raw bars of the `days` days ending on the partition's day."""
    return [AssetDep(raw_ohlcv_1d, partition_mapping=days_up_to(days))]


def features_for_day(day: date, lower_q: float = 0.01, upper_q: float = 0.99) -> tuple[pl.DataFrame, int]:
    """Features of `day` from the stored raw bars of the preceding LOOKBACK_DAYS days, plus `log_return_w`
    (the log return winsorized to per-symbol quantiles of that window); returns how many values were clipped.
    The window is the continuous history as of `day` (corporate actions effective on or before it applied)."""
    history = history_as_of(read_daily_window("raw_ohlcv_1d", day - timedelta(days=LOOKBACK_DAYS - 1), day), day)
    if history.is_empty():
        raise FileNotFoundError(f"no stored raw_ohlcv_1d bars up to {day}: materialize raw_ohlcv_1d first")
    features = compute_features(history).with_columns(pl.col("log_return").alias("log_return_w"))
    features, clipped = transforms.winsorize(features, "log_return_w", lower_q, upper_q)
    return features.filter(pl.col("date") == day), clipped


@asset(**DAILY_TABLE, deps=raw_window(LOOKBACK_DAYS), backfill_policy=BackfillPolicy.single_run())
def features_daily(context: AssetExecutionContext, config: PipelineConfig) -> pl.DataFrame:
    """Every indicator (trend, momentum, volatility, volume), log return (raw and winsorized), 30/90-day vol.
    One day per scheduled run; a backfill range (e.g. the month before a monthly optimization) runs in one run."""
    a = config.settings().analytics
    days = [date.fromisoformat(k) for k in context.partition_keys]
    computed = [features_for_day(day, a.winsor_lower_q, a.winsor_upper_q) for day in days]
    features, clipped = pl.concat([f for f, _ in computed], how="diagonal_relaxed"), sum(c for _, c in computed)
    clipped_today = int((features["log_return_w"] != features["log_return"]).sum())
    context.add_output_metadata(
        {
            "winsorized_in_window": clipped,
            "winsorized_today": clipped_today,
            "symbols": len(features),
            "with_sma_200": int(features["sma_200"].is_not_null().sum()),
            "history_window_days": LOOKBACK_DAYS,
            **({"days": len(days)} if len(days) > 1 else {}),
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


def risk_metrics_for_day(day: date, rf: float) -> pl.DataFrame:
    """Per symbol listed on `day`, over the 365 days up to it (continuous history as of the day)."""
    history = history_as_of(read_daily_window("raw_ohlcv_1d", day - timedelta(days=RISK_WINDOW_DAYS), day), day)
    listed_today = history.filter(pl.col("date") == day).select("symbol")
    metrics = statistics.risk_metrics(history.join(listed_today, on="symbol"), RISK_WINDOW_DAYS, rf)
    return metrics.with_columns(pl.lit(day).alias("date"), pl.lit(rf).alias("risk_free_rate"))


def correlation_for_day(day: date) -> pl.DataFrame:
    """Pairwise correlation of daily log returns over the 90 days up to `day` (long: date, symbol_a, symbol_b, correlation)."""
    history = history_as_of(read_daily_window("raw_ohlcv_1d", day - timedelta(days=CORRELATION_WINDOW_DAYS), day), day)
    returns = history.sort("symbol", "date").with_columns(
        (pl.col("close") / pl.col("close").shift(1)).log().over("symbol").alias("r")
    )
    wide = transforms.align_daily(returns.drop_nulls("r"), "r", day - timedelta(days=CORRELATION_WINDOW_DAYS - 1), day)
    return statistics.pairwise_correlation(wide, CORRELATION_WINDOW_DAYS // 2).select(
        pl.lit(day).alias("date"), "symbol_a", "symbol_b", "correlation"
    )


@asset(**DAILY_TABLE, deps=raw_window(RISK_WINDOW_DAYS + 1), backfill_policy=BackfillPolicy.single_run())
def risk_metrics(context: AssetExecutionContext, config: PipelineConfig) -> pl.DataFrame:
    """Per symbol over the last 365 days: 30/90-day vol, Sharpe and Sortino (risk-free = the configured CDI),
    max drawdown, historical VaR 95/99 and CVaR 95 of daily log returns. A range runs its days in one run."""
    rf = float(config.settings().portfolio.risk_free_rate)
    metrics = pl.concat([risk_metrics_for_day(date.fromisoformat(k), rf) for k in context.partition_keys], how="diagonal_relaxed")
    context.add_output_metadata({"symbols": metrics["symbol"].n_unique() if len(metrics) else 0, "risk_free_rate": rf})
    return metrics


@asset(**DAILY_TABLE, deps=raw_window(CORRELATION_WINDOW_DAYS + 1), backfill_policy=BackfillPolicy.single_run())
def correlation_matrix(context: AssetExecutionContext) -> pl.DataFrame:
    """Pairwise 90-day correlation of daily log returns (long: date, symbol_a, symbol_b, correlation). A range runs
    its days in one run."""
    corr = pl.concat([correlation_for_day(date.fromisoformat(k)) for k in context.partition_keys], how="diagonal_relaxed")
    context.add_output_metadata(
        {"pairs": len(corr), "average_correlation": float(corr["correlation"].mean() or 0.0) if len(corr) else 0.0}
    )
    return corr


@asset_check(asset=correlation_matrix, partitions_def=DAILY, description="correlations lie in [-1, 1]")
def correlations_bounded(correlation_matrix: pl.DataFrame) -> AssetCheckResult:
    bad = correlation_matrix.filter(~pl.col("correlation").is_between(-1 - 1e-9, 1 + 1e-9))
    return AssetCheckResult(passed=bad.is_empty(), metadata={"pairs": len(correlation_matrix), "out_of_range": len(bad)})


@asset_check(asset=risk_metrics, partitions_def=DAILY, description="VaR 99 >= VaR 95, CVaR 95 >= VaR 95, drawdown <= 0")
def risk_metrics_consistent(risk_metrics: pl.DataFrame) -> AssetCheckResult:
    bad = risk_metrics.filter(
        (pl.col("var_99") < pl.col("var_95") - 1e-12)
        | (pl.col("cvar_95") < pl.col("var_95") - 1e-12)
        | (pl.col("max_drawdown") > 0)
    )
    return AssetCheckResult(passed=bad.is_empty(), metadata={"symbols": len(risk_metrics), "inconsistent": len(bad)})
