"""The month's target weights from scores and prices: selection, constraint plan, optimization, turnover cap.

One pure function used by the `target_weights` asset and by the backtester alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from dca_pipeline.config import Settings
from dca_pipeline.intelligence.tiers import empty_tier_warning
from dca_pipeline.portfolio.constraints import (
    ConstraintPlan,
    constraints_from_plan,
    plan_constraints,
    seed_conflicts,
)
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
    diagnostics: dict[str, float | int | str] = field(default_factory=dict)  # method, binding, conflicts, fallback


def build_targets(
    month: date,
    scores: pl.DataFrame,
    closes: pl.DataFrame,
    settings: Settings,
    previous: pl.DataFrame | None = None,
    regime: str | None = None,
) -> TargetResult:
    """Target weights for `month` from `scores` (symbol, tier, score) and daily `closes` before the month.

    `previous` is last month's target frame (symbol, tier, weight, cap), if any, for the turnover cap; the blend
    never breaks this month's caps (`blend_within_caps`), and a coin that left every tier has cap 0. `regime` (the month's
    market-regime label) is only used by the regime sizing overlay.
    """
    p = settings.portfolio
    as_of = month - timedelta(days=1)
    closes = closes.filter(pl.col("date") <= as_of)
    eligible = with_enough_history(closes, as_of, p.lookback_days)
    chosen = select_candidates(scores, {t.name: t.max_assets for t in settings.tiers}, eligible)
    counts = dict(chosen.group_by("tier").len().iter_rows())
    conflicts = seed_conflicts(counts, settings.tiers, p)
    plan = plan_constraints(counts, settings.tiers, p)
    tier_of = dict(zip(chosen["symbol"].to_list(), chosen["tier"].to_list()))
    caps = {b.tier: b.cap for b in plan.budgets}
    prev = previous if previous is not None and len(previous) else None
    old = dict(zip(prev["symbol"].to_list(), prev["weight"].to_list())) if prev is not None else {}
    diagnostics: dict[str, float | int | str] = {
        "constraint_conflicts": "; ".join(conflicts) or "none",
        "fallback": f"{p.infeasible_policy}: " + "; ".join(plan.notes) if conflicts or plan.notes else "none",
    }
    if chosen.is_empty():
        raw, info = {}, {"objective": "none: no eligible assets"}
    else:
        prices = price_matrix(closes, chosen["symbol"].to_list(), as_of - timedelta(days=p.lookback_days - 1), as_of)
        constraints = constraints_from_plan(plan, tier_of, p, old)
        if p.method is None:  # the original objective path, unchanged
            raw, info = optimize_weights(prices, tier_of, plan, p.objective, float(p.risk_free_rate))
            before_blend = constraints_from_plan(plan, tier_of, p)  # the turnover blend is reported separately
            diagnostics.update(_legacy_diagnostics(raw, info, before_blend, float(p.risk_free_rate)))
        else:
            info = {"objective": p.method}
            result = _optimize_method(prices, chosen, constraints, settings)
            raw = result.weights
            extra = result.metadata()
            extra["constraint_conflicts"] = "; ".join([*conflicts, *result.conflicts]) or "none"
            extra["fallback"] = " | ".join(x for x in (diagnostics["fallback"], extra["fallback"]) if x != "none") or "none"
            diagnostics.update(extra)
        if _sizing_enabled(p.sizing):
            raw, notes = _size(raw, prices, constraints, settings, regime)
            diagnostics["sizing"] = "; ".join(notes)
    weights, lam = apply_turnover_cap(raw, old, float(p.turnover_cap) + (1e-7 if p.method else 0.0))
    prev_tier = dict(zip(prev["symbol"].to_list(), prev["tier"].to_list())) if prev is not None else {}
    still_tiered = dict(zip(scores["symbol"].to_list(), scores["tier"].to_list())) if "tier" in scores.columns else {}
    cap_now = {s: _current_cap(s, tier_of, still_tiered, caps) for s in set(weights) | set(raw)}
    weights, clipped = blend_within_caps(weights, raw, cap_now)
    tier_now = {s: tier_of.get(s) or still_tiered.get(s) or prev_tier.get(s) for s in weights}
    empty = [t.name for t in settings.tiers if counts.get(t.name, 0) == 0]
    diagnostics["empty_tiers"] = ", ".join(empty) or "none"
    diagnostics["empty_tier_warning"] = empty_tier_warning(empty, settings.tiers)
    diagnostics["turnover_blend_cap_clipped"] = ", ".join(sorted(clipped)) or "none"
    rows = [
        {"month": month, "symbol": s, "tier": tier_now.get(s), "weight": round(w, 8), "cap": cap_now[s]}
        for s, w in sorted(weights.items())
    ]
    out = pl.DataFrame(rows, schema=TARGET_SCHEMA).join(scores.select("symbol", "score"), on="symbol", how="left")
    return TargetResult(out, plan, info, turnover(weights, old) if old else 0.0, lam, diagnostics)


def _current_cap(symbol: str, chosen_tier: dict[str, str], tiered: dict[str, str | None], caps: dict[str, float]) -> float:
    """This month's cap of `symbol`: its tier's cap if selected or still in a tier with a budget; 0 if it left
    every tier (outgrew the band, dropped out of the snapshot, stopped trading): then it is not targeted."""
    tier = chosen_tier.get(symbol) or tiered.get(symbol)
    return float(caps.get(tier, 0.0)) if tier is not None else 0.0


def blend_within_caps(
    blended: dict[str, float], new: dict[str, float], caps: dict[str, float]
) -> tuple[dict[str, float], list[str]]:
    """The turnover blend made to respect this month's caps: each weight is clipped to its cap and the clipped
    excess moves toward the new optimum, into each asset's gap (new − clipped), never above its cap; what
    cannot be placed stays in cash. Caps win over the turnover cap. Returns the weights and the clipped symbols.

    Every weight ends ≤ its cap: a clipped one equals its cap or less, and an added amount is at most
    min(gap, cap − clipped)."""
    clipped = {s: min(w, caps.get(s, 0.0)) for s, w in blended.items()}
    hit = sorted(s for s, w in blended.items() if w > caps.get(s, 0.0) + 1e-12)
    excess = sum(blended[s] - clipped[s] for s in hit)
    gaps = {s: min(w - clipped.get(s, 0.0), caps.get(s, 0.0) - clipped.get(s, 0.0)) for s, w in new.items()}
    gaps = {s: g for s, g in gaps.items() if g > 0}
    total_gap = sum(gaps.values())
    if excess > 0 and total_gap > 0:
        scale = min(1.0, excess / total_gap)
        for s, g in gaps.items():
            clipped[s] = clipped.get(s, 0.0) + g * scale
    return {s: w for s, w in clipped.items() if w > 1e-10}, hit


def _legacy_diagnostics(weights: dict[str, float], info: dict, constraints, rf: float) -> dict[str, float | int | str]:
    """Diagnostics of the `objective` path in the same keys as the `method` path."""
    from dca_pipeline.portfolio.methods import binding_constraints

    vol, ret = float(info.get("expected_volatility", 0.0)), float(info.get("expected_return", 0.0))
    return {
        "method": f"{info.get('objective')} (objective path)",
        "constraints": constraints.describe(),
        "expected_return": ret,
        "expected_volatility": vol,
        "expected_sharpe": (ret - rf) / vol if vol > 0 else 0.0,
        "binding_constraints": "; ".join(binding_constraints(weights, constraints)) or "none",
        **({"solver_fallback": str(info["fallback"])} if "fallback" in info else {}),
    }


def _optimize_method(prices: pl.DataFrame, chosen: pl.DataFrame, constraints, settings: Settings):
    """The configured `portfolio.method` on Ledoit-Wolf estimates of the lookback window."""
    from dca_pipeline.portfolio.estimates import estimate_inputs
    from dca_pipeline.portfolio.methods import BlackLittermanViews, optimize

    p = settings.portfolio
    est = estimate_inputs(prices)
    return optimize(
        p.method,
        est.mu,
        est.cov,
        constraints,
        risk_free_rate=float(p.risk_free_rate),
        returns=est.returns,
        scores=dict(zip(chosen["symbol"].to_list(), chosen["score"].to_list())),
        infeasible_policy=p.infeasible_policy,
        relax_headroom=float(p.relax_headroom),
        views=BlackLittermanViews(view_scale=p.bl_view_scale),
    )


def _sizing_enabled(s) -> bool:
    return s.regime_scaling or any(x is not None for x in (s.target_volatility, s.kelly_fraction, s.max_asset_var))


def _size(weights: dict[str, float], prices: pl.DataFrame, constraints, settings: Settings, regime: str | None):
    from dca_pipeline.portfolio.estimates import estimate_inputs
    from dca_pipeline.portfolio.sizing import apply_sizing

    est = estimate_inputs(prices)
    caps = constraints.effective_caps()
    return apply_sizing(weights, est.mu, est.cov, settings.portfolio.sizing, float(settings.portfolio.risk_free_rate), regime, caps)
