"""Constrained mean-variance weights with PyPortfolioOpt, and the monthly turnover cap."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from dca_pipeline.analytics.indicators import ANNUALIZATION_DAYS
from dca_pipeline.portfolio.constraints import ConstraintPlan

MIN_HISTORY_DAYS = 180


def price_matrix(closes: pl.DataFrame, symbols: list[str], start: date, end: date) -> pl.DataFrame:
    """Wide close prices (date × symbol) over [start, end], forward-filled across single-asset gaps."""
    wide = (
        closes.filter(pl.col("date").is_between(start, end) & pl.col("symbol").is_in(symbols))
        .pivot(on="symbol", index="date", values="close")
        .sort("date")
    )
    return wide.with_columns(pl.exclude("date").forward_fill())


def with_enough_history(closes: pl.DataFrame, as_of: date, lookback_days: int) -> set[str]:
    """Symbols with at least MIN_HISTORY_DAYS closes in the lookback window ending at `as_of`."""
    window = closes.filter(pl.col("date").is_between(as_of - timedelta(days=lookback_days - 1), as_of))
    counts = window.group_by("symbol").len()
    return set(counts.filter(pl.col("len") >= MIN_HISTORY_DAYS)["symbol"].to_list())


def select_candidates(scores: pl.DataFrame, max_assets: dict[str, int], eligible: set[str]) -> pl.DataFrame:
    """Top-scoring eligible symbols of each tier, at most that tier's max_assets."""
    ranked = scores.filter(pl.col("symbol").is_in(list(eligible))).sort("tier", "score", descending=[False, True])
    ranked = ranked.with_columns(pl.int_range(pl.len()).over("tier").alias("_pos"))
    limits = pl.DataFrame({"tier": list(max_assets), "_max": list(max_assets.values())})
    return ranked.join(limits, on="tier").filter(pl.col("_pos") < pl.col("_max")).drop("_pos", "_max")


def optimize_weights(
    prices: pl.DataFrame, tier_of: dict[str, str], plan: ConstraintPlan, objective: str, risk_free_rate: float
) -> tuple[dict[str, float], dict[str, object]]:
    """Weights per symbol maximizing the objective under per-tier caps and tier shares (sum = invested share).

    PyPortfolioOpt always fully invests, so the problem is solved on shares scaled to 1 and the weights are
    scaled back by the invested share (the constraints are homogeneous, so this is exact).
    """
    from pypfopt import EfficientFrontier, expected_returns  # heavy import: only here

    from dca_pipeline.portfolio.covariance import ledoit_wolf_covariance

    symbols = [s for s in prices.columns if s != "date"]
    frame = prices.select(symbols).to_pandas().dropna()
    invested = sum(b.share for b in plan.budgets)
    budgets = {b.tier: b for b in plan.budgets}
    cov = ledoit_wolf_covariance(frame, ANNUALIZATION_DAYS)  # = CovarianceShrinkage(...).ledoit_wolf(), faster
    mu = expected_returns.mean_historical_return(frame, frequency=ANNUALIZATION_DAYS)
    bounds = [(0.0, min(1.0, budgets[tier_of[s]].cap / invested)) for s in symbols]
    info: dict[str, object] = {"objective": objective, "observations": len(frame)}

    def solve(kind: str) -> dict[str, float]:
        ef = EfficientFrontier(mu if kind == "max_sharpe" else None, cov, weight_bounds=bounds)
        shares = {t: b.share / invested for t, b in budgets.items()}
        ef.add_sector_constraints({s: tier_of[s] for s in symbols}, shares, shares)
        if kind == "max_sharpe":
            ef.max_sharpe(risk_free_rate=risk_free_rate)
        else:
            ef.min_volatility()
        w = np.clip(np.array([ef.weights[i] for i in range(len(symbols))]), 0.0, None)
        info["expected_volatility"] = float(np.sqrt(w @ cov.to_numpy() @ w))
        info["expected_return"] = float(w @ mu.to_numpy())
        raw = {s: float(x) * invested for s, x in zip(symbols, w)}
        return project_to_caps(raw, tier_of, {t: b.share for t, b in budgets.items()}, {t: b.cap for t, b in budgets.items()})

    try:
        weights = solve(objective)
    except Exception as exc:  # noqa: BLE001 - solver failures are reported, then min-volatility is used
        if objective == "min_volatility":
            raise
        info["fallback"] = f"{objective} failed ({exc}); used min_volatility"
        info["objective"] = "min_volatility"
        weights = solve("min_volatility")
    return weights, info


def project_to_caps(
    weights: dict[str, float], tier_of: dict[str, str], shares: dict[str, float], caps: dict[str, float]
) -> dict[str, float]:
    """Remove solver round-off: clip each weight to [0, cap] and water-fill each tier back to its share.

    The excess of capped assets is spread over the uncapped ones in proportion to their weights, repeated
    until nothing exceeds its cap (at most one pass per asset).
    """
    out: dict[str, float] = {}
    for tier, share in shares.items():
        members = {s: max(0.0, w) for s, w in weights.items() if tier_of[s] == tier}
        cap = caps[tier]
        fixed: dict[str, float] = {}
        for _ in range(len(members) + 1):
            free = {s: w for s, w in members.items() if s not in fixed}
            room = share - sum(fixed.values())
            total = sum(free.values())
            scaled = {s: (w / total * room if total > 0 else room / len(free)) for s, w in free.items()} if free else {}
            over = {s for s, w in scaled.items() if w > cap}
            if not over:
                fixed.update(scaled)
                break
            fixed.update({s: cap for s in over})
        out.update(fixed)
    return out


def turnover(new: dict[str, float], old: dict[str, float]) -> float:
    """One-way turnover between two weight vectors: ½ Σ |w_new − w_old|."""
    keys = set(new) | set(old)
    return 0.5 * sum(abs(new.get(k, 0.0) - old.get(k, 0.0)) for k in keys)


def apply_turnover_cap(new: dict[str, float], old: dict[str, float], cap: float) -> tuple[dict[str, float], float]:
    """Move from `old` toward `new` only as far as the cap allows; returns the blended weights and λ in [0, 1]."""
    t = turnover(new, old)
    if not old or t <= cap:
        return dict(new), 1.0
    lam = cap / t
    keys = set(new) | set(old)
    blended = {k: (1 - lam) * old.get(k, 0.0) + lam * new.get(k, 0.0) for k in keys}
    return {k: v for k, v in blended.items() if v > 1e-10}, lam
