"""Pre-trade circuit breaker: stop buying while the portfolio's drawdown is beyond the configured limit."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BreakerDecision:
    tripped: bool
    drawdown: float  # ≤ 0: current time-weighted index vs its running peak
    threshold: float | None


def drawdown_breaker(twr_history: Sequence[float], max_drawdown: float | None) -> BreakerDecision:
    """Trip when (1 + TWR_now) / max(1 + TWR) − 1 ≤ −max_drawdown; `None` disables the breaker.

    Uses the time-weighted index, so new contributions neither cause nor mask a trip.
    """
    if not twr_history:
        return BreakerDecision(False, 0.0, max_drawdown)
    drawdown = (1 + twr_history[-1]) / (1 + max(twr_history)) - 1  # = max(1 + t): adding 1 is monotone in floats
    tripped = max_drawdown is not None and drawdown <= -max_drawdown
    return BreakerDecision(tripped, drawdown, max_drawdown)
