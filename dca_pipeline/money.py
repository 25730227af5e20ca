"""Money helpers: amounts are integer centavos or Decimal BRL, never float sums."""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def to_centavos(amount: Decimal | str | int) -> int:
    """BRL amount -> integer centavos (banker's rounding of sub-centavo digits)."""
    return int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_brl(centavos: int) -> Decimal:
    """Integer centavos -> Decimal BRL with exactly two places."""
    return (Decimal(centavos) / 100).quantize(CENT)


def fee_centavos(amount_centavos: int, rate: Decimal) -> int:
    """Fee charged on a gross amount, rounded half-even to the centavo."""
    return int((Decimal(amount_centavos) * rate).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def daily_contribution_centavos(budget_centavos: int, day: date) -> int:
    """Day's slice of the monthly budget: the slices of a month add up to the budget exactly."""
    n = calendar.monthrange(day.year, day.month)[1]
    i = day.day
    return budget_centavos * i // n - budget_centavos * (i - 1) // n


def owed_contribution_centavos(budget_centavos: int, day: date, last_credited: date | None) -> tuple[int, list[date]]:
    """What `day` credits: its own slice plus the slice of every day since `last_credited` that was never credited
    (a day whose run was blocked or never ran), reaching back at most to the first day of the previous month; the
    first day ever credited (`last_credited` None) gets its own slice only. Returns (centavos, the days credited)."""
    if last_credited is None or last_credited >= day:
        return daily_contribution_centavos(budget_centavos, day), [day]
    floor = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    d = max(last_credited + timedelta(days=1), floor)
    days = []
    while d <= day:
        days.append(d)
        d += timedelta(days=1)
    return sum(daily_contribution_centavos(budget_centavos, x) for x in days), days


def floor_quantity(quantity: Decimal, step: Decimal = Decimal("0.00000001")) -> Decimal:
    """Round an asset quantity down to the exchange's amount step (never buy more than paid for)."""
    return quantity.quantize(step, rounding=ROUND_DOWN)
