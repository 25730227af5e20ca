"""Portfolio performance: invested, value, P&L and the time-weighted return chained day by day.

The chaining lives with the positions it values (execution/positions.py): the day loop needs it for the
drawdown breaker, and execution must not import a higher layer."""
from __future__ import annotations

from dca_pipeline.execution.positions import DayPerformance, next_day_performance

__all__ = ["DayPerformance", "next_day_performance"]
