"""The month's target weights from scores and prices: selection, constraint plan, optimization, turnover cap.

One pure function used by the `target_weights` asset and by the backtester alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from dca_pipeline.config import Settings
from dca_pipeline.portfolio.constraints import ConstraintPlan, plan_constraints
from dca_pipeline.portfolio.optimize import (
    apply_turnover_cap,
    optimize_weights,
    price_matrix,
    select_candidates,
    turnover,
    with_enough_history,
)

TARGET_SCHEMA = {"month": pl.Date, "symbol": pl.String, "tier": pl.String, "weight": pl.Float64, "cap": pl.Float64}


@dataclass(frozen=True)
class TargetResult:
    weights: pl.DataFrame  # month, symbol, tier, weight, cap, score
    plan: ConstraintPlan
    info: dict[str, object] = field(default_factory=dict)
    turnover: float = 0.0
    blend_lambda: float = 1.0


def build_targets(
    month: date, scores: pl.DataFrame, closes: pl.DataFrame, settings: Settings, previous: pl.DataFrame | None = None
) -> TargetResult:
    """Target weights for `month` from `scores` (symbol, tier, score) and daily `closes` before the month.

    `previous` is last month's target frame (symbol, tier, weight, cap), if any, for the turnover cap; a blended
    asset keeps the larger of its old and new cap so the cap check stays meaningful.
    """
    p = settings.portfolio
    as_of = month - timedelta(days=1)
    closes = closes.filter(pl.col("date") <= as_of)
    eligible = with_enough_history(closes, as_of, p.lookback_days)
    chosen = select_candidates(scores, {t.name: t.max_assets for t in settings.tiers}, eligible)
    plan = plan_constraints(dict(chosen.group_by("tier").len().iter_rows()), settings.tiers, p)
    tier_of = dict(zip(chosen["symbol"].to_list(), chosen["tier"].to_list()))
    caps = {b.tier: b.cap for b in plan.budgets}
    if chosen.is_empty():
        raw, info = {}, {"objective": "none: no eligible assets"}
    else:
        prices = price_matrix(closes, chosen["symbol"].to_list(), as_of - timedelta(days=p.lookback_days - 1), as_of)
        raw, info = optimize_weights(prices, tier_of, plan, p.objective, float(p.risk_free_rate))
    prev = previous if previous is not None and len(previous) else None
    old = dict(zip(prev["symbol"].to_list(), prev["weight"].to_list())) if prev is not None else {}
    weights, lam = apply_turnover_cap(raw, old, float(p.turnover_cap))
    old_caps = dict(zip(prev["symbol"].to_list(), prev["cap"].to_list())) if prev is not None else {}
    if prev is not None:
        tier_of = {**dict(zip(prev["symbol"].to_list(), prev["tier"].to_list())), **tier_of}
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
    out = pl.DataFrame(rows, schema=TARGET_SCHEMA).join(scores.select("symbol", "score"), on="symbol", how="left")
    return TargetResult(out, plan, info, turnover(weights, old) if old else 0.0, lam)
