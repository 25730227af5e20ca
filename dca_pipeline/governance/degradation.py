"""Graceful degradation: decide from source health and price freshness whether today's buy may go ahead.

Never buy on stale prices: when the sources are down or a planned coin's last price is too old, the day's
buy is skipped (its budget stays in cash and is carried forward) and a WARNING alert says why.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone


@dataclass(frozen=True)
class BuyDecision:
    """`buy` False means: place no order today; `carry_forward_centavos` stays in cash for the next day."""

    buy: bool
    reason: str
    stale_symbols: tuple[str, ...] = ()
    unhealthy_sources: tuple[str, ...] = ()
    carry_forward_centavos: int = 0
    details: dict[str, str] = field(default_factory=dict)


def decide_buy(
    source_health: Mapping[str, bool],
    price_times: Mapping[str, datetime | None],
    now: datetime,
    max_age: timedelta,
    budget_centavos: int,
) -> BuyDecision:
    """Buy only if at least one source is healthy and every planned symbol has a price newer than `max_age`.

    `source_health`: source name -> healthy; `price_times`: planned symbol -> time of its latest price (UTC,
    None when missing). A skipped day carries `budget_centavos` forward."""
    if now.tzinfo is None:
        raise ValueError("decide_buy: `now` must be timezone-aware (UTC)")
    unhealthy = tuple(sorted(n for n, ok in source_health.items() if not ok))
    if not source_health or len(unhealthy) == len(source_health):
        return BuyDecision(False, "no healthy market-data source" + (f" ({', '.join(unhealthy)} down)" if unhealthy else ""),
                           unhealthy_sources=unhealthy, carry_forward_centavos=budget_centavos)
    details = stale_prices(price_times, now, max_age)
    stale = sorted(details)
    if stale:
        return BuyDecision(False, f"stale prices for {len(stale)} of {len(price_times)} planned symbols: {', '.join(stale)}",
                           tuple(stale), unhealthy, budget_centavos, details)
    reason = "prices fresh" + (f"; degraded sources: {', '.join(unhealthy)}" if unhealthy else "")
    return BuyDecision(True, reason, (), unhealthy, 0, details)


def bar_close_time(price_date: date) -> datetime:
    """When a daily bar dated `price_date` closed: the next day, 00:00 UTC."""
    return datetime(price_date.year, price_date.month, price_date.day, tzinfo=timezone.utc) + timedelta(days=1)


def stale_prices(price_times: Mapping[str, datetime | None], now: datetime, max_age: timedelta) -> dict[str, str]:
    """symbol -> why its price is stale (none, older than `max_age` at `now`, or from the future); fresh ones absent."""
    if now.tzinfo is None:
        raise ValueError("stale_prices: `now` must be timezone-aware (UTC)")
    details = {}
    for symbol, at in sorted(price_times.items()):
        if at is None:
            details[symbol] = "no price"
            continue
        if at.tzinfo is None:
            raise ValueError(f"decide_buy: price time of {symbol} must be timezone-aware (UTC), got {at!r}")
        age = now - at
        if age > max_age or age < -timedelta(minutes=5):  # a price from the future is as untrustworthy as an old one
            details[symbol] = f"price age {age} > {max_age}" if age > max_age else f"price {-age} in the future"
    return details


def skip_alert(decision: BuyDecision, day: str):  # noqa: ANN201 - monitoring.alerts.Alert
    """The WARNING alert for a skipped buy (None when the buy goes ahead)."""
    from dca_pipeline.governance.alerts import Alert, Severity

    if decision.buy:
        return None
    fields = {"day": day, "carried_forward": f"R$ {decision.carry_forward_centavos / 100:,.2f}"}
    if decision.stale_symbols:
        fields["stale"] = ", ".join(decision.stale_symbols)
    if decision.unhealthy_sources:
        fields["sources_down"] = ", ".join(decision.unhealthy_sources)
    return Alert(Severity.WARNING, "daily buy skipped", decision.reason, key=f"buy_skipped:{day}", fields=fields)


def decide_and_alert(source_health: Mapping[str, bool], price_times: Mapping[str, datetime | None], day: str,
                     budget_centavos: int, max_age_hours: int, now: datetime | None = None, router=None) -> BuyDecision:  # noqa: ANN001
    """`decide_buy` plus the WARNING alert through the alert router when the day is skipped."""

    decision = decide_buy(source_health, price_times, now or datetime.now(timezone.utc), timedelta(hours=max_age_hours),
                          budget_centavos)
    send_skip_alert(decision, day, router)
    return decision


def send_skip_alert(decision: BuyDecision, day: str, router=None) -> None:  # noqa: ANN001
    """The WARNING alert of a skipped buy through the alert router (nothing when the buy goes ahead)."""
    from dca_pipeline.governance.alerts import router_from_env

    alert = skip_alert(decision, day)
    if alert is not None:
        (router or router_from_env()).send(alert)
