"""Rebalancing triggers (drift threshold, calendar, volatility regime, correlation spike) and the DCA trade list:
new cash buys the underweights first; sells only when allowed and the month's cash cannot close the drift.

Pure functions; money in integer centavos.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import polars as pl

from dca_pipeline.config import RebalanceSettings

TRADE_SCHEMA = {"symbol": pl.String, "side": pl.String, "amount_centavos": pl.Int64, "reason": pl.String}


@dataclass(frozen=True)
class Trigger:
    """Whether a rebalance is due, and why (for logs and metadata)."""

    fired: bool
    reason: str


def drift_trigger(targets: dict[str, float], current: dict[str, float], threshold: float = 0.25) -> Trigger:
    """Fires when some |current − target| > threshold × target (relative drift; a held non-target always drifts)."""
    drifted = sorted(
        s for s in set(targets) | set(current)
        if abs(current.get(s, 0.0) - targets.get(s, 0.0)) > threshold * targets.get(s, 0.0) + 1e-12
    )
    if not drifted:
        return Trigger(False, f"no weight drifted more than {threshold:.0%} of its target")
    return Trigger(True, f"drift > {threshold:.0%} of target: {', '.join(drifted)}")


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier`'s month to `later`'s month."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def calendar_trigger(day: date, last_rebalance: date | None, every_months: int = 1) -> Trigger:
    """Fires on the first check in a month at least `every_months` calendar months after the last rebalance."""
    if last_rebalance is None:
        return Trigger(True, "first rebalance")
    gap = months_between(last_rebalance, day)
    if gap >= every_months:
        return Trigger(True, f"{gap} month(s) since {last_rebalance}")
    return Trigger(False, f"last rebalance {last_rebalance} is within {every_months} month(s)")


def volatility_trigger(
    day: date, last_rebalance: date | None, market_volatility: float, high_vol: float = 1.0,
    high_vol_days: int = 7, every_months: int = 1,
) -> Trigger:
    """Calendar rule, but every `high_vol_days` days while annualized market volatility is above `high_vol`."""
    if last_rebalance is None:
        return Trigger(True, "first rebalance")
    if market_volatility > high_vol:
        days = (day - last_rebalance).days
        if days >= high_vol_days:
            return Trigger(True, f"high volatility {market_volatility:.0%} > {high_vol:.0%}: {days} days since last")
        return Trigger(False, f"high volatility, but only {days} days since last (interval {high_vol_days})")
    return calendar_trigger(day, last_rebalance, every_months)


def average_correlation(returns: np.ndarray) -> float:
    """Mean off-diagonal Pearson correlation of the columns of a (days × assets) return matrix (NaN rows dropped)."""
    clean = returns[np.isfinite(returns).all(axis=1)]
    if clean.shape[0] < 3 or clean.shape[1] < 2:
        return float("nan")
    corr = np.corrcoef(clean, rowvar=False)
    n = corr.shape[0]
    return float((corr.sum() - np.trace(corr)) / (n * (n - 1)))


def correlation_trigger(returns: np.ndarray, recent_days: int = 30, spike: float = 0.2) -> Trigger:
    """Fires when the last `recent_days` average correlation exceeds the earlier rows' by more than `spike`
    (diversification is vanishing: correlations go to 1 in crashes)."""
    if returns.shape[0] <= recent_days + 2:
        return Trigger(False, f"need more than {recent_days + 2} days of returns")
    recent = average_correlation(returns[-recent_days:])
    base = average_correlation(returns[:-recent_days])
    if np.isfinite(recent) and np.isfinite(base) and recent - base > spike:
        return Trigger(True, f"average correlation {recent:.2f} vs baseline {base:.2f} (spike > {spike:.2f})")
    return Trigger(False, f"average correlation {recent:.2f} vs baseline {base:.2f}")


def _value_centavos(quantity: object, price: float) -> int:
    return int((Decimal(str(quantity)) * Decimal(repr(float(price))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def split_centavos(total: int, shares: dict[str, int]) -> dict[str, int]:
    """Split `total` centavos in proportion to integer `shares` (largest remainder, ties by symbol): sums exactly."""
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return {s: 0 for s in shares}
    exact = {s: Decimal(total) * v / weight for s, v in shares.items()}
    out = {s: int(x) for s, x in exact.items()}
    left = total - sum(out.values())
    for s in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:left]:
        out[s] += 1
    return out


def rebalance_trades(
    targets: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    cash_centavos: int,
    monthly_budget_centavos: int,
    allow_sells: bool = False,
) -> pl.DataFrame:
    """Trades (symbol, side, amount_centavos, reason) moving holdings toward `targets` (symbol, weight).

    Total value V = holdings at `prices` (symbol, close) + cash + the month's budget; each target's gap is
    weight × V − its value. New DCA cash first: the cash and budget buy the underweights in proportion to their gaps
    (all gaps when it suffices). Only if `allow_sells` and gaps remain, the overweights (and held non-targets) are
    sold down to target and the proceeds buy the remaining gaps. Fees are left to execution. Integer centavos.
    """
    for name, frame, cols in (("targets", targets, ("symbol", "weight")), ("holdings", holdings, ("symbol", "quantity")),
                              ("prices", prices, ("symbol", "close"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"rebalance_trades: {name} lacks column(s) {missing}")
    if cash_centavos < 0 or monthly_budget_centavos < 0:
        raise ValueError(f"cash ({cash_centavos}) and budget ({monthly_budget_centavos}) must be ≥ 0 centavos")
    price = dict(prices.select("symbol", "close").iter_rows())
    held = {s: q for s, q in holdings.select("symbol", "quantity").iter_rows() if q}
    unpriced = sorted(s for s in held if s not in price)
    if unpriced:
        raise ValueError(f"rebalance_trades: no price for held symbol(s) {unpriced}")
    value = {s: _value_centavos(q, price[s]) for s, q in held.items()}
    weight = {s: float(w) for s, w in targets.select("symbol", "weight").iter_rows() if w and w > 0}
    spend = cash_centavos + monthly_budget_centavos
    total = sum(value.values()) + spend
    target_value = {s: int(Decimal(repr(w)) * total) for s, w in weight.items()}
    gaps = {s: max(0, target_value[s] - value.get(s, 0)) for s in weight}
    gaps = {s: g for s, g in gaps.items() if g > 0}
    rows: list[dict] = []
    need = sum(gaps.values())
    buys = gaps if need <= spend else split_centavos(spend, gaps)
    rows += [{"symbol": s, "side": "buy", "amount_centavos": a, "reason": "underweight: new cash"} for s, a in buys.items() if a > 0]
    left = {s: g - buys.get(s, 0) for s, g in gaps.items() if g - buys.get(s, 0) > 0}
    if allow_sells and left:
        excess = {s: v - target_value.get(s, 0) for s, v in value.items() if v > target_value.get(s, 0)}
        proceeds_wanted = min(sum(excess.values()), sum(left.values()))
        sells = split_centavos(proceeds_wanted, excess)
        rows += [
            {"symbol": s, "side": "sell", "amount_centavos": a,
             "reason": "overweight: drift beyond the month's cash" if s in weight else "not a target: drift beyond the month's cash"}
            for s, a in sells.items() if a > 0
        ]
        more = split_centavos(sum(sells.values()), left)
        rows += [{"symbol": s, "side": "buy", "amount_centavos": a, "reason": "underweight: sale proceeds"} for s, a in more.items() if a > 0]
    return pl.DataFrame(rows, schema=TRADE_SCHEMA).sort("side", "symbol", "reason")


def rebalance_due(
    settings: RebalanceSettings,
    day: date,
    last_rebalance: date | None,
    targets: dict[str, float],
    current: dict[str, float],
    market_volatility: float | None = None,
    returns: np.ndarray | None = None,
) -> list[Trigger]:
    """Every configured trigger that fires today (empty = no rebalance): drift, calendar or high-volatility
    interval (when the market volatility is known), and correlation spike (when daily returns are given)."""
    checks = [drift_trigger(targets, current, settings.drift_threshold)]
    if market_volatility is None:
        checks.append(calendar_trigger(day, last_rebalance, settings.calendar_months))
    else:
        checks.append(volatility_trigger(day, last_rebalance, market_volatility, settings.high_vol_annualized,
                                         settings.high_vol_days, settings.calendar_months))
    if returns is not None:
        checks.append(correlation_trigger(returns, spike=settings.correlation_spike))
    return [t for t in checks if t.fired]
