"""Backtest metrics: CAGR (of the time-weighted return), volatility, Sharpe, max drawdown, IRR, costs."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl

from dca_pipeline.analytics.statistics import (
    conditional_value_at_risk,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    value_at_risk,
)


def irr(flows: list[tuple[date, float]]) -> float:
    """Money-weighted annual return: the rate r with Σ CF_t (1+r)^(−days_t/365) = 0 (brentq on a wide bracket).

    Contributions are negative flows, the final value a positive one. NaN when no sign change exists.
    """
    from scipy.optimize import brentq

    if not flows:
        return float("nan")
    t0 = flows[0][0]
    days = np.array([(d - t0).days for d, _ in flows], dtype=float)
    cf = np.array([v for _, v in flows], dtype=float)

    def npv(r: float) -> float:
        return float(np.sum(cf * (1 + r) ** (-days / 365)))

    lo, hi = -0.99, 1.0
    while npv(lo) * npv(hi) > 0 and hi < 1e9:  # widen for short, explosive periods
        hi *= 10
    if npv(lo) * npv(hi) > 0:
        return float("nan")
    return float(brentq(npv, lo, hi, xtol=1e-12))


def performance_metrics(equity: pl.DataFrame, risk_free_rate: float, total_fees_brl: float) -> dict[str, float]:
    """Headline metrics of an equity curve with columns date, invested_brl, value_brl, daily_return, twr."""
    if equity.is_empty():
        return {}
    rets = equity["daily_return"].drop_nulls()
    days = (equity["date"][-1] - equity["date"][0]).days + 1
    growth = 1 + float(equity["twr"][-1])
    index = equity.select("date", (1 + pl.col("twr")).alias("close"))
    flows = [(d, -float(c)) for d, c in zip(equity["date"], equity["contribution_brl"]) if c]
    flows.append((equity["date"][-1], float(equity["value_brl"][-1])))
    return {
        "cagr": growth ** (365 / days) - 1 if growth > 0 else -1.0,
        "volatility": float(rets.std() * math.sqrt(365)) if len(rets) > 1 else float("nan"),
        "sharpe": sharpe_ratio(rets, risk_free_rate=risk_free_rate, periods_per_year=365),
        "sortino": sortino_ratio(rets, risk_free_rate=risk_free_rate, periods_per_year=365),
        "var_95_daily": value_at_risk(rets, 0.95, "historical"),
        "cvar_95_daily": conditional_value_at_risk(rets, 0.95),
        "max_drawdown": max_drawdown(index).depth,
        "irr": irr(flows),
        "total_fees_brl": total_fees_brl,
        "invested_brl": float(equity["invested_brl"][-1]),
        "final_value_brl": float(equity["value_brl"][-1]),
        "twr": float(equity["twr"][-1]),
        "days": days,
    }
