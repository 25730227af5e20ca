"""The daily job and its schedule: it runs from ingestion up to monitoring, so monitoring (its highest layer) owns it."""

from dagster import AssetSelection, RunRequest, ScheduleEvaluationContext, define_asset_job, in_process_executor, schedule

from dca_pipeline.config import env_tags
from dca_pipeline.partitions import CADENCE_TAG, DAILY, SCHEDULE_TIMEZONE, previous_utc_day_request
from dca_pipeline.recovery import recovering

# the execution layer's assets all run daily; the other layers mark their daily assets with the cadence tag
DAILY_SELECTION = AssetSelection.groups("execution") | AssetSelection.tag(CADENCE_TAG, "daily")

daily_job = define_asset_job(
    "daily_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # ≈3 s per step process on small machines: run in one process
    selection=DAILY_SELECTION,
    partitions_def=DAILY,
    description="Ingest the day, compute features, place and fill the DCA orders, value the portfolio.",
)


@schedule(job=daily_job, cron_schedule="15 1 * * *", execution_timezone=SCHEDULE_TIMEZONE)
def daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:15 in São Paulo: the previous UTC day is closed; run its partition."""
    return previous_utc_day_request(context)
