"""Jobs, schedules (America/Sao_Paulo) and the run-failure alert sensor."""

import json
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    run_failure_sensor,
    schedule,
)

from dca_pipeline.config import cached_settings
from dca_pipeline.paths import dca_home

SETTINGS = cached_settings()
from dca_pipeline.partitions import daily_partitions, monthly_partitions  # noqa: E402

DAILY_ASSETS = ["raw_ohlcv_1d", "fx_usd_brl", "features_daily", "risk_metrics", "correlation_matrix", "dca_orders", "fills", "positions", "portfolio_performance"]
MONTHLY_ASSETS = ["market_caps", "asset_tiers", "asset_scores", "market_regime", "target_weights"]
INGEST_ASSETS = ["raw_ohlcv_1d", "fx_usd_brl"]

daily_job = define_asset_job(
    "daily_job",
    executor_def=in_process_executor,  # ≈3 s per step process on small machines: run in one process
    selection=AssetSelection.assets(*DAILY_ASSETS),
    partitions_def=daily_partitions(SETTINGS),
    description="Ingest the day, compute features, place and fill the DCA orders, value the portfolio.",
)
monthly_job = define_asset_job(
    "monthly_job",
    executor_def=in_process_executor,  # ≈3 s per step process on small machines: run in one process
    selection=AssetSelection.assets(*MONTHLY_ASSETS),
    partitions_def=monthly_partitions(SETTINGS),
    description="Market caps, tiers, scores and the month's target weights (data up to the month's eve).",
)
ingest_history_job = define_asset_job(
    "ingest_history_job",
    executor_def=in_process_executor,  # ≈3 s per step process on small machines: run in one process
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=daily_partitions(SETTINGS),
    description="Backfill raw bars and USD/BRL; a partition range runs as one run (single-run backfill policy).",
)


@schedule(job=daily_job, cron_schedule="15 1 * * *", execution_timezone=SETTINGS.timezone)
def daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:15 in São Paulo: the previous UTC day is closed; run its partition."""
    day = context.scheduled_execution_time.astimezone(timezone.utc).date() - timedelta(days=1)
    return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


@schedule(job=monthly_job, cron_schedule="0 3 1 * *", execution_timezone=SETTINGS.timezone)
def monthly_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """03:00 in São Paulo on the 1st: optimize the new month with data through the month's eve."""
    month = context.scheduled_execution_time.astimezone(timezone.utc).date().replace(day=1)
    return RunRequest(run_key=month.isoformat(), partition_key=month.isoformat())


def write_alert(kind: str, message: str, **fields: str) -> dict:
    """Append an alert to $DCA_HOME/alerts.jsonl (the UI shows it in the sensor's log too)."""
    alert = {"at": datetime.now(timezone.utc).isoformat(), "kind": kind, "message": message, **fields}
    with (dca_home() / "alerts.jsonl").open("a") as fh:
        fh.write(json.dumps(alert) + "\n")
    return alert


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def run_failure_alert(context: RunFailureSensorContext) -> None:
    """Log and record an alert for every failed run (job, partition, first error line)."""
    run = context.dagster_run
    error = context.failure_event.message or "unknown error"
    alert = write_alert(
        "run_failure", error.splitlines()[0] if error else "", job=run.job_name, run_id=run.run_id,
        partition=run.tags.get("dagster/partition", ""),
    )
    context.log.error(f"ALERT: {alert}")
