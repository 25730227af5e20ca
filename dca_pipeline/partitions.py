"""Partitions and schedule constants: UTC calendar days for data and execution, UTC months for the monthly
optimization, America/Sao_Paulo for schedules. Constants, not settings: the code location reads nothing at import.

The partitions run from the first day of the bundled history (2017-01-01) to the last closed UTC day; a day
outside the data the source can serve fails with the source's range in the message.
"""
from __future__ import annotations

from datetime import date, timedelta, timezone

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition, RunRequest, ScheduleEvaluationContext

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
