"""Portfolio asset: monthly target weights under the configured constraints and turnover cap."""

from datetime import date, timedelta

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetDep, AssetExecutionContext, MetadataValue, asset, asset_check

from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.metadata import markdown_table
from dca_pipeline.intelligence.assets import market_regime
from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
from dca_pipeline.partitions import MONTHLY, days_before_month, month_start
from dca_pipeline.portfolio.explain import target_weights_metadata
from dca_pipeline.portfolio.targets import build_targets
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.ingestion.corporate_actions import history_as_of
from dca_pipeline.ingestion.universe import history_before

# the closes the optimizer may read before the month, as declared to Dagster: the settings are not read at import, so
# this covers portfolio.lookback_days up to the regime model's three years (default 365); a longer configured
# lookback reads bars that `ingest_history_job` must have stored
DECLARED_LOOKBACK_DAYS = REGIME_HISTORY_DAYS


def previous_targets(db, month: date) -> pl.DataFrame:  # noqa: ANN001
    """Last month's stored targets (empty before the first month)."""
    if not duck.table_exists(db, "portfolio", "target_weights"):
        return pl.DataFrame()
    prev = (month - timedelta(days=1)).replace(day=1)
    return duck.query(db, "select symbol, tier, weight, cap from portfolio.target_weights where month = ?", [prev])


def month_regime(db, month: date) -> str | None:  # noqa: ANN001
    """The month's stored market-regime label (intelligence.market_regime), None when not materialized."""
    if not duck.table_exists(db, "intelligence", "market_regime"):
        return None
    rows = duck.query(db, "select regime from intelligence.market_regime where month = ?", [month])
    return rows["regime"][0] if len(rows) else None


@asset(
    group_name="portfolio",
    partitions_def=MONTHLY,
    # the optimizer's closes before the month (portfolio.lookback_days, see DECLARED_LOOKBACK_DAYS) and the month's
    # regime (read when regime scaling is on; declared so that it is built first)
    deps=[AssetDep(raw_ohlcv_1d, partition_mapping=days_before_month(DECLARED_LOOKBACK_DAYS)), market_regime],
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "portfolio", "partition_column": "month"},
    pool="duckdb_warehouse",
    kinds={"pypfopt", "polars", "duckdb"},
    owners=["team:quant"],
)
def target_weights(
    context: AssetExecutionContext, asset_scores: pl.DataFrame, config: PipelineConfig, warehouse: Warehouse
) -> pl.DataFrame:
    """Top-scored assets per tier, weighted by PyPortfolioOpt under caps and tier shares (policy in metadata)."""
    settings = config.settings()
    p = settings.portfolio
    month = month_start(context.partition_key)
    closes = history_as_of(history_before(month, p.lookback_days), month - timedelta(days=1)).select("symbol", "date", "close")
    regime = month_regime(warehouse.db(), month) if p.sizing.regime_scaling else None  # soft input: read if stored
    result = build_targets(month, asset_scores, closes, settings, previous_targets(warehouse.db(), month), regime)
    out, plan = result.weights, result.plan
    if result.diagnostics.get("empty_tiers", "none") != "none":
        context.log.warning(str(result.diagnostics["empty_tier_warning"]))
    context.add_output_metadata(
        {
            "infeasible_policy": p.infeasible_policy,
            "policy_notes": MetadataValue.md("\n".join(f"- {n}" for n in plan.notes) or "none: caps feasible"),
            "tier_budgets": markdown_table(pl.DataFrame([b.__dict__ for b in plan.budgets]) if plan.budgets else pl.DataFrame()),
            "assets": len(out),
            "min_assets_met": len(out) >= p.min_assets,
            "invested_weight": float(out["weight"].sum()) if len(out) else 0.0,
            "turnover_vs_previous": result.turnover,
            "turnover_blend_lambda": result.blend_lambda,
            **{k: v for k, v in result.info.items() if isinstance(v, (int, float, str))},
            **result.diagnostics,
            "weights": markdown_table(out.select("symbol", "tier", "weight", "cap"), 30),
            **target_weights_metadata(out, result.diagnostics, plan.notes),  # table, chart by tier, binding constraints
        }
    )
    return out


@asset_check(asset=target_weights, partitions_def=MONTHLY, blocking=True, description="weights within [0, cap] and summing to at most 1")
def weights_within_caps(target_weights: pl.DataFrame) -> AssetCheckResult:
    over = target_weights.filter((pl.col("weight") < 0) | (pl.col("weight") > pl.col("cap") + 1e-6))
    total = float(target_weights["weight"].sum()) if len(target_weights) else 0.0
    return AssetCheckResult(
        passed=over.is_empty() and total <= 1 + 1e-6,
        metadata={"over_cap": len(over), "weight_sum": total, "sample": markdown_table(over)},
    )


@asset_check(asset=target_weights, partitions_def=MONTHLY, description="at least portfolio.min_assets assets are held")
def enough_assets(target_weights: pl.DataFrame, config: PipelineConfig) -> AssetCheckResult:
    n = len(target_weights.filter(pl.col("weight") > 0))
    need = config.settings().portfolio.min_assets
    return AssetCheckResult(
        passed=n >= need, severity=AssetCheckSeverity.WARN, metadata={"assets": n, "min_assets": need}
    )


@asset_check(
    asset=target_weights, partitions_def=MONTHLY,
    description="every configured tier holds a target (warning: an empty tier's share went to the other tiers)",
)
def every_tier_targeted(target_weights: pl.DataFrame, config: PipelineConfig) -> AssetCheckResult:
    from dca_pipeline.intelligence.tiers import empty_tier_warning, empty_tiers

    tiers = config.settings().tiers
    empty = empty_tiers(target_weights.filter(pl.col("weight") > 0), tiers)
    return AssetCheckResult(
        passed=not empty, severity=AssetCheckSeverity.WARN,
        metadata={"empty_tiers": ", ".join(empty) or "none", "warning": empty_tier_warning(empty, tiers)},
    )
