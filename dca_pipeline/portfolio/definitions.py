"""Portfolio's Dagster wiring: target weights, and the monthly job (market caps → tiers, scores, regime → targets)
with its schedule: the job's highest layer is portfolio, so portfolio owns it."""
from datetime import timezone

from dagster import (
    AssetSelection, Definitions, RunRequest, ScheduleEvaluationContext, define_asset_job, in_process_executor,
    schedule,
)

from dca_pipeline.layers import layer_definitions
from dca_pipeline.config import env_tags
from dca_pipeline.partitions import CADENCE_TAG, MONTHLY, SCHEDULE_TIMEZONE
from dca_pipeline.portfolio import assets, gx_checks
from dca_pipeline.recovery import recovering

# intelligence and portfolio run monthly as a whole; ingestion marks its monthly asset (market caps) with the tag
MONTHLY_SELECTION = AssetSelection.groups("intelligence", "portfolio") | AssetSelection.tag(CADENCE_TAG, "monthly")

monthly_job = define_asset_job(
    "monthly_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # ≈3 s per step process on small machines: run in one process
    selection=MONTHLY_SELECTION,
    partitions_def=MONTHLY,
    description="Market caps, tiers, scores and the month's target weights (data up to the month's eve).",
)


@schedule(job=monthly_job, cron_schedule="0 3 1 * *", execution_timezone=SCHEDULE_TIMEZONE)
def monthly_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """03:00 in São Paulo on the 1st: optimize the new month with data through the month's eve."""
    month = context.scheduled_execution_time.astimezone(timezone.utc).date().replace(day=1)
    return RunRequest(run_key=month.isoformat(), partition_key=month.isoformat())


defs = layer_definitions(
    "portfolio", [assets, gx_checks],
    jobs=[monthly_job],
    schedules=[monthly_schedule],
)
