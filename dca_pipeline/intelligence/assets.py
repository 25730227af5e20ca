"""Intelligence assets: monthly tiers and scores, using only data published before the month starts."""

from datetime import timedelta

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetDep, AssetExecutionContext, MetadataValue, asset, asset_check

from dca_pipeline.analytics.assets import features_daily
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.intelligence.explain import regime_metadata
from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
from dca_pipeline.intelligence import spread
from dca_pipeline.intelligence.lstm_momentum import with_lstm_momentum
from dca_pipeline.intelligence.scores import FACTOR_GROUPS, compute_factors, score_assets
from dca_pipeline.intelligence.tiers import VOLUME_WINDOW_DAYS, empty_tier_warning, empty_tiers, tiers_for_month
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import MONTH_BEFORE, MONTHLY, days_before_month, month_start
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.ingestion.corporate_actions import history_as_of
from dca_pipeline.ingestion.universe import history_before

FACTOR_HISTORY_DAYS = 400  # GARCH needs a year of returns; momentum 180 days
WAREHOUSE_META = {"schema": "intelligence", "partition_column": "month"}
# monthly tables `intelligence.<asset>`, computed from raw bars published before the month
MONTHLY_TABLE = dict(
    group_name="intelligence",
    partitions_def=MONTHLY,
    io_manager_key="warehouse_io_manager",
    metadata=WAREHOUSE_META,
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
    owners=["team:quant"],
)


def raw_before_month(days: int) -> AssetDep:
    """The dependency on the stored raw bars of the `days` days before the month (whole months covering them)."""
    return AssetDep(raw_ohlcv_1d, partition_mapping=days_before_month(days))


@asset(**MONTHLY_TABLE, deps=[raw_before_month(VOLUME_WINDOW_DAYS)])
def asset_tiers(context: AssetExecutionContext, market_caps: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    """Each investable coin's tier from its market cap and 30-day mean BRL volume before the month."""
    settings = config.settings()
    month = month_start(context.partition_key)
    bars = history_as_of(history_before(month, VOLUME_WINDOW_DAYS), month - timedelta(days=1))  # corporate actions as of the eve
    if bars.is_empty():
        raise FileNotFoundError(f"no raw bars in the {VOLUME_WINDOW_DAYS} days before {month}: ingest them first")
    tiers = tiers_for_month(bars, market_caps, month, settings)
    counts = tiers.group_by("reason").len().sort("reason")
    empty = empty_tiers(tiers, settings.tiers)
    if empty:
        context.log.warning(empty_tier_warning(empty, settings.tiers))
    context.add_output_metadata(
        {
            "tiers_by": settings.tiers_by,
            "empty_tiers": ", ".join(empty) or "none",
            "empty_tier_warning": empty_tier_warning(empty, settings.tiers),
            "per_tier": markdown_table(tiers.group_by("tier").len().sort("tier")),
            "universe": len(tiers),
            "tiered": int(tiers["tier"].is_not_null().sum()),
            "by_reason": markdown_table(counts),
            "snapshot_date": str(market_caps["snapshot_date"][0]),
        }
    )
    return tiers


@asset(**MONTHLY_TABLE, deps=[raw_before_month(FACTOR_HISTORY_DAYS), AssetDep(features_daily, partition_mapping=MONTH_BEFORE)])
def asset_scores(
    context: AssetExecutionContext, asset_tiers: pl.DataFrame, warehouse: Warehouse, config: PipelineConfig
) -> pl.DataFrame:
    """Every factor, its within-tier z-score, the group scores and the weighted composite, as of the month's eve."""
    month = month_start(context.partition_key)
    as_of = month - timedelta(days=1)
    bars = history_as_of(history_before(month, FACTOR_HISTORY_DAYS), as_of)  # corporate actions as of the eve
    db = warehouse.db()
    feats = (
        duck.query(db, "select * from analytics.features_daily where date = ?", [as_of])
        if duck.table_exists(db, "analytics", "features_daily")
        else pl.DataFrame()
    )
    if feats.is_empty():
        raise FileNotFoundError(f"features_daily for {as_of} is missing: materialize that daily partition first")
    lstm = config.settings().lstm_momentum  # the LSTM momentum flag (off by default): trained here on the month's universe
    factors = compute_factors(bars, feats, asset_tiers, as_of, books=spread.stored_books(as_of))  # books up to the eve only
    if lstm.mode != "off":
        factors = with_lstm_momentum(factors, history_as_of(history_before(month, lstm.history_days()), as_of), as_of, asset_tiers["symbol"].to_list(), lstm)
    scores = score_assets(factors, config.settings().scoring, lstm.momentum_weight())
    shown = ["tier", "symbol", "score", *[f"{g}_score" for g in FACTOR_GROUPS], "factors_missing"]
    context.add_output_metadata(
        {
            "scored": len(scores),
            "weights": MetadataValue.json({k: float(v) for k, v in config.settings().scoring.model_dump().items()}),
            **spread.spread_report(factors),
            "ranking": markdown_table(scores.select(shown).with_columns(pl.col(pl.Float64).round(3)), 30),
        }
    )
    return scores.with_columns(pl.lit(month).alias("month")).select("month", *scores.columns)


@asset_check(
    asset=asset_scores, partitions_def=MONTHLY, description="every tiered coin is scored exactly once, with a finite score"
)
def scores_complete(context, asset_scores: pl.DataFrame, warehouse: Warehouse) -> AssetCheckResult:  # noqa: ANN001
    month = month_start(context.partition_key)
    tiered = duck.query(
        warehouse.db(), "select symbol from intelligence.asset_tiers where month = ? and tier is not null", [month]
    )["symbol"].to_list()
    non_finite = asset_scores.filter(~pl.col("score").is_finite())
    dup = asset_scores.group_by("symbol").len().filter(pl.col("len") > 1)
    unscored = sorted(set(tiered) - set(asset_scores["symbol"].to_list()))
    return AssetCheckResult(
        passed=non_finite.is_empty() and dup.is_empty() and not unscored,
        metadata={"tiered": len(tiered), "non_finite": len(non_finite), "duplicates": len(dup), "unscored": ", ".join(unscored) or "none"},
    )


@asset(**{**MONTHLY_TABLE, "kinds": {"hmmlearn", "polars", "duckdb"}}, deps=[raw_before_month(REGIME_HISTORY_DAYS)])
def market_regime(context: AssetExecutionContext, config: PipelineConfig) -> pl.DataFrame:
    """Bull / bear / sideways / crisis from a Gaussian HMM on market return, volatility and correlation,
    fit only on data before the month; states are named by their fitted means, not their index."""
    from dca_pipeline.intelligence.regime import fit_regimes, market_features

    settings = config.settings()
    month = month_start(context.partition_key)
    as_of = month - timedelta(days=1)
    bars = history_before(month, REGIME_HISTORY_DAYS)
    excluded = [f"{b}/BRL" for b in settings.excluded_bases]
    wide = (
        bars.filter(~pl.col("symbol").is_in(excluded))
        .pivot(on="symbol", index="date", values="close")
        .sort("date")
    )
    result = fit_regimes(market_features(wide), as_of)
    context.add_output_metadata(
        {
            "regime": result.label,
            "probabilities": MetadataValue.json({k: round(v, 4) for k, v in result.probabilities.items()}),
            "state_means": markdown_table(result.state_means.with_columns(pl.col(pl.Float64).round(4))),
            "training_days": len(result.history),
            **regime_metadata(result.label, result.probabilities),  # table and chart (intelligence/explain.py)
        }
    )
    row = {"month": month, "as_of": as_of, "regime": result.label, "log_likelihood": result.log_likelihood}
    row.update({f"p_{k}": float(v) for k, v in result.probabilities.items()})
    return pl.DataFrame([row])


@asset_check(asset=market_regime, partitions_def=MONTHLY, description="regime probabilities sum to 1")
def regime_probabilities_sum_to_one(market_regime: pl.DataFrame) -> AssetCheckResult:
    cols = [c for c in market_regime.columns if c.startswith("p_")]
    total = float(market_regime.select(pl.sum_horizontal(cols)).item()) if len(market_regime) else 0.0
    return AssetCheckResult(passed=abs(total - 1) < 1e-6, metadata={"sum": total, "regime": str(market_regime["regime"][0]) if len(market_regime) else ""})


@asset_check(asset=asset_tiers, partitions_def=MONTHLY, description="every tiered coin meets its tier's market-cap range (or rank band) and volume floor")
def tiers_respect_definitions(asset_tiers: pl.DataFrame, config: PipelineConfig) -> AssetCheckResult:
    settings = config.settings()
    tiers, by = {t.name: t for t in settings.tiers}, settings.tiers_by
    col = "market_cap_usd" if by == "usd" else "rank"

    def fits(row: dict) -> bool:
        lo, hi = tiers[row["tier"]].bounds(by)
        value = row.get(col)
        return value is not None and lo <= value <= hi and row["avg_volume_brl"] >= tiers[row["tier"]].daily_volume_min_brl

    bad = [row for row in asset_tiers.filter(pl.col("tier").is_not_null()).iter_rows(named=True) if not fits(row)]
    counts = asset_tiers.group_by("tier").len().sort("tier")
    return AssetCheckResult(
        passed=not bad,
        metadata={"tiers_by": by, "violations": len(bad), "per_tier": markdown_table(counts), "sample": markdown_table(pl.DataFrame(bad))},
    )


@asset_check(
    asset=asset_tiers, partitions_def=MONTHLY,
    description="every configured tier has at least one member (warning: an empty tier's target goes to the others)",
)
def every_tier_populated(asset_tiers: pl.DataFrame, config: PipelineConfig) -> AssetCheckResult:
    tiers = config.settings().tiers
    empty = empty_tiers(asset_tiers, tiers)
    return AssetCheckResult(
        passed=not empty,
        severity=AssetCheckSeverity.WARN,
        metadata={"empty_tiers": ", ".join(empty) or "none", "warning": empty_tier_warning(empty, tiers),
                  "per_tier": markdown_table(asset_tiers.group_by("tier").len().sort("tier"))},
    )
