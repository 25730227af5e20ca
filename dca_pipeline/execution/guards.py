"""Pre-send checks: the ONE place every order passes right before it is sent to a broker.

`pre_send_guards` returns the reasons to block (empty = send). The spend caps read what the event ledger
already committed, so even a corrupt plan cannot spend past them. Governance checks (kill switch, freezes)
belong here too.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from dca_pipeline.execution import ledger_views
from dca_pipeline.governance.overrides import pre_send_block_reasons


@dataclass(frozen=True)
class OrderIntent:
    """What is about to be sent: buys spend `amount_centavos` (fee included); sells give `quantity`."""

    day: date
    client_order_id: str
    symbol: str
    side: str
    amount_centavos: int
    quantity: Decimal | None = None
    ref_price: float | None = None


@dataclass(frozen=True)
class GuardContext:
    """Limits (centavos / fractions; None = off) and market facts the checks need."""

    db: Path
    daily_cap_centavos: int
    monthly_cap_centavos: int
    prices: dict[str, float] = field(default_factory=dict)
    volume_24h_brl: dict[str, float] = field(default_factory=dict)
    max_volume_share: float | None = None
    max_position_centavos: int | None = None
    max_concentration: float | None = None
    breaker_tripped: bool = False


def pre_send_guards(order: OrderIntent, context: GuardContext) -> list[str]:
    """Reasons to block `order` (empty list: it may be sent). The kill switch and asset freezes come first."""
    overrides = pre_send_block_reasons(order.symbol)  # re-read on every order: a switch pulled mid-plan stops the rest
    if order.side == "sell":
        return overrides + _sell_checks(order, context)
    reasons: list[str] = list(overrides)
    if order.amount_centavos <= 0:
        reasons.append(f"non-positive amount {order.amount_centavos}")
    reasons += _spend_caps(order, context)
    cash = ledger_views.cash_centavos(context.db, order.day) - _outstanding(context.db)
    if order.amount_centavos > cash:
        reasons.append(f"insufficient cash: order {order.amount_centavos} > available {cash} centavos")
    if context.breaker_tripped:
        reasons.append("drawdown circuit breaker tripped")
    reasons += _market_checks(order, context)
    return reasons


def _spend_caps(order: OrderIntent, ctx: GuardContext) -> list[str]:
    month_first = order.day.replace(day=1)
    month_last = order.day.replace(day=calendar.monthrange(order.day.year, order.day.month)[1])
    out = []
    day_spent = ledger_views.spent_centavos(ctx.db, order.day, order.day)
    if day_spent + order.amount_centavos > ctx.daily_cap_centavos:
        out.append(f"daily spend cap: {day_spent} + {order.amount_centavos} > {ctx.daily_cap_centavos} centavos")
    month_spent = ledger_views.spent_centavos(ctx.db, month_first, month_last)
    if month_spent + order.amount_centavos > ctx.monthly_cap_centavos:
        out.append(f"monthly spend cap: {month_spent} + {order.amount_centavos} > {ctx.monthly_cap_centavos} centavos")
    return out


def _outstanding(db: Path) -> int:
    """Cash still committed to sent buys that have not finished filling."""
    states = ledger_views.order_states(db)
    open_ = states.filter(states["status"].is_in(["sent", "partially_filled"]) & (states["side"] == "buy"))
    return int(sum(max(a - f - fee, 0) for a, f, fee in open_.select("amount_centavos", "filled_centavos", "fee_centavos").iter_rows()))


def _market_checks(order: OrderIntent, ctx: GuardContext) -> list[str]:
    out = []
    brl = order.amount_centavos / 100
    if ctx.max_volume_share is not None:
        volume = ctx.volume_24h_brl.get(order.symbol)
        if volume is None:
            out.append(f"liquidity: no 24h volume known for {order.symbol}")
        elif brl > ctx.max_volume_share * volume:
            out.append(f"liquidity: R${brl:.2f} > {ctx.max_volume_share:.2%} of 24h volume R${volume:,.2f}")
    if ctx.max_position_centavos is None and ctx.max_concentration is None:
        return out
    price = ctx.prices.get(order.symbol)
    if price is None:
        return out + [f"no price for {order.symbol} to check position limits"]
    pos = ledger_views.positions(ctx.db)
    values = {s: float(q) * ctx.prices.get(s, 0.0) * 100 for s, q, _, _ in pos.iter_rows()}
    after = values.get(order.symbol, 0.0) + order.amount_centavos
    if ctx.max_position_centavos is not None and after > ctx.max_position_centavos:
        out.append(f"position limit: {order.symbol} would be {after:.0f} > {ctx.max_position_centavos} centavos")
    total = sum(values.values()) + ledger_views.cash_centavos(ctx.db)
    if ctx.max_concentration is not None and total > 0 and after / total > ctx.max_concentration:
        out.append(f"concentration: {order.symbol} would be {after / total:.1%} > {ctx.max_concentration:.0%} of the portfolio")
    return out


def _sell_checks(order: OrderIntent, ctx: GuardContext) -> list[str]:
    held = {s: q for s, q, _, _ in ledger_views.positions(ctx.db).iter_rows()}.get(order.symbol, Decimal(0))
    if order.quantity is None or order.quantity <= 0:
        return [f"sell of {order.symbol} without a positive quantity"]
    if order.quantity > held:
        return [f"sell of {order.quantity} {order.symbol} exceeds the {held} held"]
    return []
