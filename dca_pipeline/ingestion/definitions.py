"""Ingestion's Dagster wiring: raw daily, intraday and monthly data with their quality checks, raw-store
maintenance, and the ingestion-only jobs and schedules (America/Sao_Paulo)."""
from datetime import timezone

from dagster import (
    AssetSelection, Definitions, RunRequest, ScheduleEvaluationContext, define_asset_job, in_process_executor,
    schedule,
)

from dca_pipeline.layers import layer_definitions
from dca_pipeline.config import env_tags
from dca_pipeline.ingestion import assets, gx_checks, intraday_assets, quality_checks, storage_assets
from dca_pipeline.partitions import CADENCE_TAG, DAILY, SCHEDULE_TIMEZONE, previous_utc_day_request
from dca_pipeline.recovery import recovering

MODULES = [assets, intraday_assets, quality_checks, storage_assets, gx_checks]
GROUP = AssetSelection.groups(assets.GROUP)


def _cadence(name: str) -> AssetSelection:
    return GROUP & AssetSelection.tag(CADENCE_TAG, name)


ingest_history_job = define_asset_job(
    "ingest_history_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # ≈3 s per step process on small machines: run in one process
    selection=_cadence("daily"),
    partitions_def=DAILY,
    description="Backfill raw bars and USD/BRL; a partition range runs as one run (single-run backfill policy).",
)
raw_maintenance_job = define_asset_job(
    "raw_maintenance_job",
    selection=_cadence("maintenance"),
    executor_def=recovering(in_process_executor),
    description="Apply raw-data retention, refresh the raw.* views and the symbol listings.",
)
intraday_job = define_asset_job(
    "intraday_job",
    selection=_cadence("intraday"),
    partitions_def=DAILY,
    executor_def=recovering(in_process_executor),
    description="Hourly, five-minute and minute bars and public trades of one closed UTC day, with their checks.",
)
order_book_job = define_asset_job(
    "order_book_job",
    selection=_cadence("hourly"),
    partitions_def=DAILY,
    executor_def=recovering(in_process_executor),
    description="One top-of-book snapshot per market, added to today's partition.",
)


@schedule(job=raw_maintenance_job, cron_schedule="30 2 * * *", execution_timezone=SCHEDULE_TIMEZONE)
def raw_maintenance_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """02:30 in São Paulo every day (after the daily ingestion at 01:15)."""
    return RunRequest(run_key=context.scheduled_execution_time.date().isoformat())


@schedule(job=intraday_job, cron_schedule="20 1 * * *", execution_timezone=SCHEDULE_TIMEZONE)
def intraday_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:20 in São Paulo: the previous UTC day is closed; ingest its intraday data."""
    return previous_utc_day_request(context)


@schedule(job=order_book_job, cron_schedule="0 * * * *", execution_timezone=SCHEDULE_TIMEZONE)
def order_book_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Every hour: a snapshot into today's (UTC) partition (live sources only; stopped by default)."""
    now = context.scheduled_execution_time.astimezone(timezone.utc)
    return RunRequest(run_key=now.strftime("%Y-%m-%dT%H"), partition_key=now.date().isoformat())


defs = layer_definitions(
    "ingestion", MODULES,
    jobs=[ingest_history_job, raw_maintenance_job, intraday_job, order_book_job],
    schedules=[raw_maintenance_schedule, intraday_schedule, order_book_schedule],
)
