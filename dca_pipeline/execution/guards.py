"""Pre-send checks: the ONE place every order passes right before it is sent to a broker.

`check_order` is the one set of checks (kill switch and freezes, spend caps, cash, breaker, liquidity and
position limits, sell quantity); the day core (execution/day.py) applies it while planning, and
`pre_send_guards` applies it again right before the broker call with facts read from the event ledger, so
even a corrupt plan cannot spend past the caps.
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
    """Limits (centavos / fractions; None = off) and market facts the checks need (`db`: the event ledger the
    send-time facts are read from; None when the day core checks a plan against its own running state)."""

    db: Path | None
    daily_cap_centavos: int
    monthly_cap_centavos: int
    prices: dict[str, float] = field(default_factory=dict)
    volume_24h_brl: dict[str, float] = field(default_factory=dict)
    max_volume_share: float | None = None
    max_position_centavos: int | None = None
    max_concentration: float | None = None
    breaker_tripped: bool = False


@dataclass(frozen=True)
class GuardFacts:
    """The state an order is judged against: governance blocks for its symbol, cash, what the day and month
    already committed, holdings. At send time they come from the event ledger (`ledger_facts`); when the day
    is planned, from the plan's own running state (execution/day.py) — the checks are the same function."""

    blocks: tuple[str, ...] = ()  # kill switch / freeze reasons for this symbol
    cash_available_centavos: int = 0  # cash minus what sent, unfinished buys still hold
    spent_day_centavos: int = 0
    spent_month_centavos: int = 0
    held: dict[str, Decimal] = field(default_factory=dict)  # quantity per symbol
    cash_total_centavos: int = 0  # for the concentration limit


def pre_send_guards(order: OrderIntent, context: GuardContext) -> list[str]:
    """Reasons to block `order` (empty list: it may be sent), judged on what the event ledger says now."""
    if context.db is None:
        raise ValueError("pre_send_guards needs the event ledger: GuardContext.db is None")
    return check_order(order, context, ledger_facts(order, context.db))


def ledger_facts(order: OrderIntent, db: Path) -> GuardFacts:
    """The send-time facts: overrides re-read on every order (a switch pulled mid-plan stops the rest), spend
    and cash from the event ledger."""
    month_first = order.day.replace(day=1)
    month_last = order.day.replace(day=calendar.monthrange(order.day.year, order.day.month)[1])
    held = {s: Decimal(q) for s, q, _, _ in ledger_views.positions(db).iter_rows()}
    return GuardFacts(
        blocks=tuple(pre_send_block_reasons(order.symbol)),
        cash_available_centavos=ledger_views.cash_centavos(db, order.day) - outstanding_buys_centavos(db),
        spent_day_centavos=ledger_views.spent_centavos(db, order.day, order.day),
        spent_month_centavos=ledger_views.spent_centavos(db, month_first, month_last),
        held=held,
        cash_total_centavos=ledger_views.cash_centavos(db),
    )


def check_order(order: OrderIntent, ctx: GuardContext, facts: GuardFacts) -> list[str]:
    """Every pre-send check of one order against `facts`: governance blocks first, then (buys) the amount, the
    daily and monthly spend caps, cash, the drawdown breaker and the market limits; (sells) the quantity held."""
    reasons: list[str] = list(facts.blocks)
    if order.side == "sell":
        return reasons + _sell_checks(order, facts)
    if order.amount_centavos <= 0:
        reasons.append(f"non-positive amount {order.amount_centavos}")
    reasons += _spend_caps(order, ctx, facts)
    if order.amount_centavos > facts.cash_available_centavos:
        reasons.append(f"insufficient cash: order {order.amount_centavos} > available {facts.cash_available_centavos} centavos")
    if ctx.breaker_tripped:
        reasons.append("drawdown circuit breaker tripped")
    reasons += _market_checks(order, ctx, facts)
    return reasons


def _spend_caps(order: OrderIntent, ctx: GuardContext, facts: GuardFacts) -> list[str]:
    out = []
    if facts.spent_day_centavos + order.amount_centavos > ctx.daily_cap_centavos:
        out.append(f"daily spend cap: {facts.spent_day_centavos} + {order.amount_centavos} > {ctx.daily_cap_centavos} centavos")
    if facts.spent_month_centavos + order.amount_centavos > ctx.monthly_cap_centavos:
        out.append(f"monthly spend cap: {facts.spent_month_centavos} + {order.amount_centavos} > {ctx.monthly_cap_centavos} centavos")
    return out


def outstanding_buys_centavos(db: Path) -> int:
    """Cash still committed to sent buys that have not finished filling."""
    states = ledger_views.order_states(db)
    open_ = states.filter(states["status"].is_in(["sent", "partially_filled"]) & (states["side"] == "buy"))
    return int(sum(max(a - f - fee, 0) for a, f, fee in open_.select("amount_centavos", "filled_centavos", "fee_centavos").iter_rows()))


def _market_checks(order: OrderIntent, ctx: GuardContext, facts: GuardFacts) -> list[str]:
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
    values = {s: float(q) * ctx.prices.get(s, 0.0) * 100 for s, q in facts.held.items()}
    after = values.get(order.symbol, 0.0) + order.amount_centavos
    if ctx.max_position_centavos is not None and after > ctx.max_position_centavos:
        out.append(f"position limit: {order.symbol} would be {after:.0f} > {ctx.max_position_centavos} centavos")
    total = sum(values.values()) + facts.cash_total_centavos
    if ctx.max_concentration is not None and total > 0 and after / total > ctx.max_concentration:
        out.append(f"concentration: {order.symbol} would be {after / total:.1%} > {ctx.max_concentration:.0%} of the portfolio")
    return out


def _sell_checks(order: OrderIntent, facts: GuardFacts) -> list[str]:
    held = facts.held.get(order.symbol, Decimal(0))
    if order.quantity is None or order.quantity <= 0:
        return [f"sell of {order.symbol} without a positive quantity"]
    if order.quantity > held:
        return [f"sell of {order.quantity} {order.symbol} exceeds the {held} held"]
    return []
