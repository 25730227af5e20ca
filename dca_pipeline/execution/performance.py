"""Portfolio performance: invested, value, P&L and the time-weighted return chained day by day."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class DayPerformance:
    invested_centavos: int
    value_centavos: int
    cash_centavos: int
    daily_return: float | None
    twr: float

    @property
    def pnl_centavos(self) -> int:
        return self.value_centavos - self.invested_centavos


def next_day_performance(
    prev_value_centavos: int,
    prev_twr: float,
    flow_centavos: int,
    value_centavos: int,
    cash_centavos: int,
    invested_centavos: int,
) -> DayPerformance:
    """Chain one day: the day's contribution arrives at the start of the day, so
    r = V_t / (V_{t-1} + CF_t) − 1 and TWR_t = (1 + TWR_{t-1})(1 + r) − 1. No capital at risk: r is None."""
    base = prev_value_centavos + flow_centavos
    if base <= 0:
        return DayPerformance(invested_centavos, value_centavos, cash_centavos, None, prev_twr)
    r = float(Decimal(value_centavos) / Decimal(base)) - 1.0
    return DayPerformance(invested_centavos, value_centavos, cash_centavos, r, (1 + prev_twr) * (1 + r) - 1)
