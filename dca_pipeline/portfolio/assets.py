"""Portfolio asset: monthly target weights under the configured constraints and turnover cap."""

from datetime import timedelta

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, MetadataValue, asset, asset_check

from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import month_start, monthly_partitions
from dca_pipeline.portfolio.constraints import plan_constraints
from dca_pipeline.portfolio.optimize import (
    apply_turnover_cap,
    optimize_weights,
    price_matrix,
    select_candidates,
    turnover,
    with_enough_history,
)
from dca_pipeline.resources import PipelineConfig, Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.universe import history_before

MONTHLY = monthly_partitions(cached_settings())


def previous_targets(db, month) -> dict[str, float]:  # noqa: ANN001
    if not duck.table_exists(db, "portfolio", "target_weights"):
        return {}
    prev = month.replace(day=1) - timedelta(days=1)
    rows = duck.query(db, "select symbol, weight from portfolio.target_weights where month = ?", [prev.replace(day=1)])
    return dict(zip(rows["symbol"].to_list(), rows["weight"].to_list()))


@asset(
    group_name="portfolio",
    partitions_def=MONTHLY,
    deps=[raw_ohlcv_1d],
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "portfolio", "partition_column": "month"},
    pool="duckdb_warehouse",
    kinds={"pypfopt", "duckdb"},
)
def target_weights(
    context: AssetExecutionContext, asset_scores: pl.DataFrame, config: PipelineConfig, warehouse: Warehouse
) -> pl.DataFrame:
    """Top-scored assets per tier, weighted by PyPortfolioOpt under caps and tier shares (policy in metadata)."""
    settings = config.settings()
    p = settings.portfolio
    month = month_start(context.partition_key)
    as_of = month - timedelta(days=1)
    closes = history_before(month, p.lookback_days).select("symbol", "date", "close")
    eligible = with_enough_history(closes, as_of, p.lookback_days)
    chosen = select_candidates(asset_scores, {t.name: t.max_assets for t in settings.tiers}, eligible)
    counts = dict(chosen.group_by("tier").len().iter_rows())
    plan = plan_constraints(counts, settings.tiers, p)
    tier_of = dict(zip(chosen["symbol"].to_list(), chosen["tier"].to_list()))
    caps = {b.tier: b.cap for b in plan.budgets}
    if chosen.is_empty():
        raw, info = {}, {"objective": "none: no eligible assets"}
    else:
        prices = price_matrix(closes, chosen["symbol"].to_list(), as_of - timedelta(days=p.lookback_days - 1), as_of)
        raw, info = optimize_weights(prices, tier_of, plan, p.objective, float(p.risk_free_rate))
    old = previous_targets(warehouse.db(), month)
    weights, lam = apply_turnover_cap(raw, old, float(p.turnover_cap))
    old_caps: dict[str, float] = {}
    if old and duck.table_exists(warehouse.db(), "portfolio", "target_weights"):
        prev_rows = duck.query(
            warehouse.db(), "select symbol, cap, tier from portfolio.target_weights where month = ?",
            [(month - timedelta(days=1)).replace(day=1)],
        )
        old_caps = dict(zip(prev_rows["symbol"].to_list(), prev_rows["cap"].to_list()))
        tier_of = {**dict(zip(prev_rows["symbol"].to_list(), prev_rows["tier"].to_list())), **tier_of}
    rows = [
        {
            "month": month,
            "symbol": s,
            "tier": tier_of.get(s),
            "weight": round(w, 8),
            "cap": max(caps.get(tier_of.get(s), 0.0), old_caps.get(s, 0.0)) if lam < 1 else caps[tier_of[s]],
        }
        for s, w in sorted(weights.items())
    ]
    out = pl.DataFrame(rows, schema={"month": pl.Date, "symbol": pl.String, "tier": pl.String, "weight": pl.Float64, "cap": pl.Float64})
    out = out.join(asset_scores.select("symbol", "score"), on="symbol", how="left")
    context.add_output_metadata(
        {
            "infeasible_policy": p.infeasible_policy,
            "policy_notes": MetadataValue.md("\n".join(f"- {n}" for n in plan.notes) or "none: caps feasible"),
            "tier_budgets": markdown_table(pl.DataFrame([b.__dict__ for b in plan.budgets]) if plan.budgets else pl.DataFrame()),
            "assets": len(out),
            "min_assets_met": len(out) >= p.min_assets,
            "invested_weight": float(out["weight"].sum()) if len(out) else 0.0,
            "turnover_vs_previous": turnover(weights, old) if old else 0.0,
            "turnover_blend_lambda": lam,
            **{k: v for k, v in info.items() if isinstance(v, (int, float, str))},
            "weights": markdown_table(out.select("symbol", "tier", "weight", "cap"), 30),
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
