"""Backtest metrics: CAGR (of the time-weighted return), volatility, Sharpe and Sortino over the real CDI,
max drawdown, IRR, costs."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

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


@dataclass(frozen=True)
class RiskFree:
    """Daily risk-free returns aligned to calendar days, and how they were obtained."""

    daily: pl.DataFrame  # date, rf (the day's risk-free return, compounded from the CDI)
    annual_average: float  # (Π (1 + rf))^(365 / days) − 1 over the days
    cdi_days: int  # calendar days covered by the CDI series
    fallback_days: int  # calendar days past the series' end (or before its start), at the fixed rate
    series_end: date | None
    fallback_rate: float

    def note(self) -> str:
        """One sentence for reports: the average annual CDI used and any fallback."""
        if not self.cdi_days:
            return f"risk-free: fixed {self.fallback_rate:.2%} a year (portfolio.risk_free_rate; no CDI series for the period)"
        text = f"risk-free: CDI (BCB SGS 12), average {self.annual_average:.2%} a year over the period"
        if self.fallback_days:
            end = f" (series ends {self.series_end})" if self.series_end else " (no CDI series)"
            text += f"; fixed {self.fallback_rate:.2%} a year on {self.fallback_days} days outside the series{end}"
        return text


def risk_free_daily(start: date, end: date, cdi: pl.DataFrame | None, fallback_annual: float) -> RiskFree:
    """The risk-free return of each calendar day in [start, end] from the daily CDI (date, cdi_pct: % per business
    day): a business day earns 1 + cdi_pct/100, a weekend or holiday earns nothing, so Π(1 + rf) over any span is
    the CDI compounded over it. Days after the series' last date (or before its first) earn the fixed annual
    `fallback_annual` spread over calendar days: (1 + rate)^(1/365) − 1."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    rates: dict[date, float] = {}
    first = last = None
    if cdi is not None and not cdi.is_empty():
        rates = {d: float(r) / 100 for d, r in zip(cdi["date"].to_list(), cdi["cdi_pct"].to_list()) if r is not None}
        first, last = min(rates), max(rates)
    fallback = (1 + fallback_annual) ** (1 / 365) - 1
    inside = [first is not None and first <= d <= last for d in days]
    rf = [rates.get(d, 0.0) if ok else fallback for d, ok in zip(days, inside)]
    growth = float(np.prod([1 + x for x in rf])) if rf else 1.0
    annual = growth ** (365 / len(days)) - 1 if days else float("nan")
    frame = pl.DataFrame({"date": days, "rf": rf}, schema={"date": pl.Date, "rf": pl.Float64})
    n_in = sum(inside)
    return RiskFree(frame, annual, n_in, len(days) - n_in, last, fallback_annual)


def excess_ratios(returns: pl.DataFrame, rf: RiskFree) -> tuple[float, float]:
    """(Sharpe, Sortino) of daily returns (date, daily_return) over the day's risk-free return, × √365."""
    joined = returns.drop_nulls("daily_return").join(rf.daily, on="date", how="left").with_columns(pl.col("rf").fill_null(0.0))
    excess = (joined["daily_return"] - joined["rf"]).to_numpy()
    return (
        sharpe_ratio(excess, risk_free_rate=0.0, periods_per_year=365),
        sortino_ratio(excess, risk_free_rate=0.0, periods_per_year=365),
    )


def performance_metrics(
    equity: pl.DataFrame, risk_free_rate: float, total_fees_brl: float, cdi: pl.DataFrame | None = None
) -> dict[str, float]:
    """Headline metrics of an equity curve with columns date, invested_brl, value_brl, daily_return, twr.

    Sharpe and Sortino are over the daily CDI (`cdi`: date, cdi_pct) of the same days; `risk_free_rate` (annual)
    only where the series does not reach (all days when `cdi` is None). `risk_free_annual_avg` is the rate used,
    `risk_free_fallback_days` how many days took the fixed rate."""
    if equity.is_empty():
        return {}
    rets = equity["daily_return"].drop_nulls()
    days = (equity["date"][-1] - equity["date"][0]).days + 1
    growth = 1 + float(equity["twr"][-1])
    index = equity.select("date", (1 + pl.col("twr")).alias("close"))
    flows = [(d, -float(c)) for d, c in zip(equity["date"], equity["contribution_brl"]) if c]
    flows.append((equity["date"][-1], float(equity["value_brl"][-1])))
    rf = risk_free_daily(equity["date"][0], equity["date"][-1], cdi, risk_free_rate)
    sharpe, sortino = excess_ratios(equity.select("date", "daily_return"), rf)
    return {
        "cagr": growth ** (365 / days) - 1 if growth > 0 else -1.0,
        "volatility": float(rets.std() * math.sqrt(365)) if len(rets) > 1 else float("nan"),
        "sharpe": sharpe,
        "sortino": sortino,
        "risk_free_annual_avg": rf.annual_average,
        "risk_free_fallback_days": float(rf.fallback_days),
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
