"""Partitions and schedule constants: UTC calendar days for data and execution, UTC months for the monthly
optimization, America/Sao_Paulo for schedules. Constants, not settings: the code location reads nothing at import.

The partitions run from the first day of the bundled history (2017-01-01) to the last closed UTC day; a day
outside the data the source can serve fails with the source's range in the message.
"""
from __future__ import annotations

from datetime import date, timedelta, timezone

from dagster import (
    DailyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    TimeWindowPartitionMapping,
)

HISTORY_START = date(2017, 1, 1)
SCHEDULE_TIMEZONE = "America/Sao_Paulo"  # schedules and reports; everything inside is UTC

# the last partition is the last closed UTC day (Dagster's default end offset 0)
DAILY = DailyPartitionsDefinition(start_date=HISTORY_START.isoformat(), timezone="UTC")
# end_offset=1: a month's partition exists from its first day (it is planned at the start, not the end)
MONTHLY = MonthlyPartitionsDefinition(start_date=HISTORY_START.isoformat(), timezone="UTC", end_offset=1)


def month_start(partition_key: str) -> date:
    return date.fromisoformat(partition_key).replace(day=1)


def previous_utc_day_request(context: ScheduleEvaluationContext) -> RunRequest:
    """The run of the UTC day before the tick (closed by the time a São Paulo night schedule fires)."""
    day = context.scheduled_execution_time.astimezone(timezone.utc).date() - timedelta(days=1)
    return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())

# Which scheduled job runs an asset: jobs select by layer group and this tag, never by a list of asset names.
CADENCE_TAG = "dca/cadence"


def cadence(name: str) -> dict[str, str]:
    """Asset tags placing it in a cadence: daily | monthly | intraday | hourly | maintenance."""
    return {CADENCE_TAG: name}


# Partition mappings: what each partition reads of its upstream, declared on the dependency so that a backfill of
# an asset's partitions plus everything upstream (backfills.py) knows exactly which upstream partitions it needs.
# Offsets are in the downstream asset's partitions (days for a daily asset, months for a monthly one); windows
# that would start before 2017-01-01 are cut there rather than failing.


def days_up_to(days: int) -> TimeWindowPartitionMapping:
    """A daily asset's day D reads the daily upstream's `days` days ending on D: D - days + 1 .. D."""
    return TimeWindowPartitionMapping(start_offset=-(days - 1), end_offset=0, allow_nonexistent_upstream_partitions=True)


def months_covering(days: int) -> int:
    """Whole months that always hold `days` days (a month has at least 28)."""
    return -(-days // 28)


def days_before_month(days: int) -> TimeWindowPartitionMapping:
    """A monthly asset's month M reads the daily upstream's `days` days before M: the whole months before M that
    always cover them (never a day of M itself: point in time)."""
    return TimeWindowPartitionMapping(start_offset=-months_covering(days), end_offset=-1, allow_nonexistent_upstream_partitions=True)


# the month M reads the daily upstream's eve (the last day before M); a time-window mapping can only say "the month
# before", so it names that whole month (its last day is the eve)
MONTH_BEFORE = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
