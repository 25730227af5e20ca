"""Intelligence assets: monthly tiers and scores, using only data published before the month starts."""

from datetime import timedelta

import polars as pl
from dagster import AssetCheckResult, AssetExecutionContext, asset, asset_check

from dca_pipeline.analytics.assets import features_daily
from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.intelligence.scores import momentum, score_assets
from dca_pipeline.intelligence.tiers import assign_tiers, average_volume_brl
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import month_start, monthly_partitions
from dca_pipeline.resources import PipelineConfig, Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.universe import history_before, investable

MONTHLY = monthly_partitions(cached_settings())
VOLUME_WINDOW_DAYS = 30
MOMENTUM_HISTORY_DAYS = 190
WAREHOUSE_META = {"schema": "intelligence", "partition_column": "month"}


@asset(
    group_name="intelligence",
    partitions_def=MONTHLY,
    deps=[raw_ohlcv_1d],
    io_manager_key="warehouse_io_manager",
    metadata=WAREHOUSE_META,
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
)
def asset_tiers(context: AssetExecutionContext, market_caps: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    """Each investable coin's tier from its market cap and 30-day mean BRL volume before the month."""
    settings = config.settings()
    month = month_start(context.partition_key)
    bars = history_before(month, VOLUME_WINDOW_DAYS)
    if bars.is_empty():
        raise FileNotFoundError(f"no raw bars in the {VOLUME_WINDOW_DAYS} days before {month}: ingest them first")
    universe = investable(bars, month - timedelta(days=1), settings)
    tiers = assign_tiers(universe, market_caps, average_volume_brl(bars), settings.tiers)
    counts = tiers.group_by("reason").len().sort("reason")
    context.add_output_metadata(
        {
            "universe": len(tiers),
            "tiered": int(tiers["tier"].is_not_null().sum()),
            "by_reason": markdown_table(counts),
            "snapshot_date": str(market_caps["snapshot_date"][0]),
        }
    )
    return tiers.with_columns(pl.lit(month).alias("month")).select(
        "month", "symbol", "tier", "market_cap_usd", "avg_volume_brl", "reason"
    )


@asset(
    group_name="intelligence",
    partitions_def=MONTHLY,
    deps=[raw_ohlcv_1d, features_daily],
    io_manager_key="warehouse_io_manager",
    metadata=WAREHOUSE_META,
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
)
def asset_scores(context: AssetExecutionContext, asset_tiers: pl.DataFrame, warehouse: Warehouse) -> pl.DataFrame:
    """Momentum 30/90/180 and RSI/Bollinger mean reversion, z-scored within tier, as of the month's eve."""
    month = month_start(context.partition_key)
    as_of = month - timedelta(days=1)
    closes = history_before(month, MOMENTUM_HISTORY_DAYS).select("symbol", "date", "close")
    feats = duck.query(warehouse.db(), "select * from analytics.features_daily where date = ?", [as_of]) if duck.table_exists(
        warehouse.db(), "analytics", "features_daily"
    ) else pl.DataFrame()
    if feats.is_empty():
        raise FileNotFoundError(f"features_daily for {as_of} is missing: materialize that daily partition first")
    scores = score_assets(asset_tiers, momentum(closes, as_of), feats)
    context.add_output_metadata({"scored": len(scores), "top": markdown_table(scores.select("tier", "symbol", "score"), 10)})
    return scores.with_columns(pl.lit(month).alias("month")).select("month", *[c for c in scores.columns])


@asset_check(asset=asset_scores, partitions_def=MONTHLY, description="scores are finite and every tiered coin is scored once")
def scores_complete(asset_scores: pl.DataFrame) -> AssetCheckResult:
    non_finite = asset_scores.filter(~pl.col("score").is_finite())
    dup = asset_scores.group_by("symbol").len().filter(pl.col("len") > 1)
    return AssetCheckResult(
        passed=non_finite.is_empty() and dup.is_empty(),
        metadata={"non_finite": len(non_finite), "duplicates": len(dup)},
    )
