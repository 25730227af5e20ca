"""Partition definitions: UTC calendar days for data and execution, UTC months for the monthly optimization."""
from __future__ import annotations

from datetime import date, timedelta

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition

from dca_pipeline.config import Settings


def replay_last_partition_day() -> date:
    """Last day whose orders can still fill (the paper broker fills at the next day's open)."""
    from dca_pipeline.ingestion.sources import ReplaySource

    return ReplaySource().data_range()[1] - timedelta(days=1)


def daily_partitions(settings: Settings) -> DailyPartitionsDefinition:
    end = replay_last_partition_day() + timedelta(days=1) if settings.source == "replay" else None
    return DailyPartitionsDefinition(
        start_date=settings.history_start.isoformat(),
        end_date=end.isoformat() if end else None,
        timezone="UTC",
    )


def monthly_partitions(settings: Settings) -> MonthlyPartitionsDefinition:
    end = None
    if settings.source == "replay":
        last = replay_last_partition_day()
        nxt = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
        end = nxt.isoformat()
    start = settings.history_start.replace(day=1)
    # end_offset=1: a month's partition exists from its first day (it is planned at the start, not the end)
    return MonthlyPartitionsDefinition(start_date=start.isoformat(), end_date=end, timezone="UTC", end_offset=1)


def month_start(partition_key: str) -> date:
    return date.fromisoformat(partition_key).replace(day=1)
