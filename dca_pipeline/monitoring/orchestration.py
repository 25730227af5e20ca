"""Jobs, schedules (America/Sao_Paulo) and the run-failure alert sensor."""

from datetime import date, timedelta, timezone

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunFailureSensorContext,
    DagsterRunStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
    asset_sensor,
    AssetKey,
    EventLogEntry,
    SensorEvaluationContext,
    SkipReason,
)

from dca_pipeline.config import cached_settings
from dca_pipeline.governance.environments import env_tags
from dca_pipeline.monitoring.recovery import recovering

SETTINGS = cached_settings()
from dca_pipeline.partitions import daily_partitions, monthly_partitions  # noqa: E402

DAILY_ASSETS = ["raw_ohlcv_1d", "fx_usd_brl", "features_daily", "risk_metrics", "correlation_matrix", "dca_orders", "fills", "reconciliation", "positions", "portfolio_performance"]
MONTHLY_ASSETS = ["market_caps", "asset_tiers", "asset_scores", "market_regime", "target_weights"]
INGEST_ASSETS = ["raw_ohlcv_1d", "fx_usd_brl"]

daily_job = define_asset_job(
    "daily_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # one process (≈3 s per step process on small machines); frees dead runs' slots first
    selection=AssetSelection.assets(*DAILY_ASSETS),
    partitions_def=daily_partitions(SETTINGS),
    description="Ingest the day, compute features, place and fill the DCA orders, value the portfolio.",
)
monthly_job = define_asset_job(
    "monthly_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # one process (≈3 s per step process on small machines); frees dead runs' slots first
    selection=AssetSelection.assets(*MONTHLY_ASSETS),
    partitions_def=monthly_partitions(SETTINGS),
    description="Market caps, tiers, scores and the month's target weights (data up to the month's eve).",
)
ingest_history_job = define_asset_job(
    "ingest_history_job",
    tags=env_tags(),  # dca/env=dev|paper|live on every run
    executor_def=recovering(in_process_executor),  # one process (≈3 s per step process on small machines); frees dead runs' slots first
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=daily_partitions(SETTINGS),
    description="Backfill raw bars and USD/BRL; a partition range runs as one run (single-run backfill policy).",
)


@schedule(job=daily_job, cron_schedule="15 1 * * *", execution_timezone=SETTINGS.timezone)
def daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:15 in São Paulo: the previous UTC day is closed; run its partition."""
    return previous_utc_day_request(context)


def previous_utc_day_request(context: ScheduleEvaluationContext) -> RunRequest:
    """The run of the UTC day before the tick (closed by the time a São Paulo night schedule fires)."""
    day = context.scheduled_execution_time.astimezone(timezone.utc).date() - timedelta(days=1)
    return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


@schedule(job=monthly_job, cron_schedule="0 3 1 * *", execution_timezone=SETTINGS.timezone)
def monthly_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """03:00 in São Paulo on the 1st: optimize the new month with data through the month's eve."""
    month = context.scheduled_execution_time.astimezone(timezone.utc).date().replace(day=1)
    return RunRequest(run_key=month.isoformat(), partition_key=month.isoformat())


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def run_failure_alert(context: RunFailureSensorContext) -> None:
    """A CRITICAL alert for every failed run (job, partition, first error line), through the alert channels."""
    from dca_pipeline.monitoring.alerts import Alert, Severity, router_from_env

    run = context.dagster_run
    error = (context.failure_event.message or "unknown error").splitlines()[0]
    partition = run.tags.get("dagster/partition", "")
    failed_checks = _failed_checks(context)
    alert = Alert(
        Severity.CRITICAL, f"run failed: {run.job_name}", error, key=f"run_failure:{run.job_name}:{partition}",
        fields={"job": run.job_name, "run_id": run.run_id, "partition": partition,
                "failed_checks": ", ".join(failed_checks) or "none"},
    )
    outcome = router_from_env().send(alert)
    context.log.error(f"ALERT {alert.title}: {error} -> {outcome}")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[daily_job], default_status=DefaultSensorStatus.RUNNING)
def daily_summary_alert(context: RunStatusSensorContext) -> None:
    """After each successful daily run: an INFO summary (orders, fills, value, P&L, regime, failed checks)."""
    from dca_pipeline.monitoring.alerts import router_from_env
    from dca_pipeline.monitoring.summary import daily_summary_alert as build

    day = context.dagster_run.tags.get("dagster/partition")
    if not day:
        return
    alert = build(day, failed_checks=_failed_checks(context))
    router_from_env().send(alert)


def _failed_checks(context: RunStatusSensorContext) -> list[str]:
    """Names of asset checks that failed in the monitored run."""
    from dagster import DagsterEventType

    records = context.instance.all_logs(context.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    out = []
    for rec in records:
        data = rec.dagster_event.event_specific_data if rec.dagster_event else None
        if data is not None and not data.passed:
            out.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    return out


MAX_DATA_LAG_DAYS = 1


@sensor(minimum_interval_seconds=3600, default_status=DefaultSensorStatus.RUNNING)
def stale_data_alert(context: SensorEvaluationContext) -> SkipReason | None:
    """WARNING when live daily bars lag: the newest `raw_ohlcv_1d` partition is older than yesterday (UTC).

    With the replay source the data is history by design, so nothing is checked.
    """
    from datetime import datetime

    from dagster import AssetKey

    from dca_pipeline.monitoring.alerts import Alert, Severity, router_from_env

    if SETTINGS.source == "replay":
        return SkipReason("replay source: bundled history is not expected to be fresh")
    event = context.instance.get_latest_materialization_event(AssetKey("raw_ohlcv_1d"))
    partition = event.dagster_event.partition if event and event.dagster_event else None
    expected = datetime.now(timezone.utc).date() - timedelta(days=1)
    if partition and (expected - date.fromisoformat(partition)).days <= MAX_DATA_LAG_DAYS - 1:
        return SkipReason(f"fresh: newest daily bars are for {partition}")
    alert = Alert(
        Severity.WARNING, "stale market data",
        f"newest raw_ohlcv_1d partition is {partition or 'none'}, expected {expected}",
        key=f"stale:{partition}", fields={"newest_partition": str(partition), "expected": str(expected)},
    )
    router_from_env().send(alert)
    return None


@asset_sensor(asset_key=AssetKey("dca_orders"), default_status=DefaultSensorStatus.RUNNING)
def circuit_breaker_alert(context: SensorEvaluationContext, asset_event: EventLogEntry) -> SkipReason | None:
    """CRITICAL alert when a day's orders were withheld by the drawdown circuit breaker."""
    from dca_pipeline.monitoring.alerts import Alert, Severity, router_from_env

    mat = asset_event.asset_materialization
    meta = mat.metadata if mat else {}
    state = meta.get("circuit_breaker")
    if state is None or state.value != "tripped":
        return SkipReason("circuit breaker not tripped")
    drawdown = float(meta["drawdown"].value) if "drawdown" in meta else float("nan")
    router_from_env().send(
        Alert(Severity.CRITICAL, "circuit breaker tripped", f"no orders on {mat.partition}: drawdown {drawdown:.1%}",
              key=f"breaker:{mat.partition}", fields={"partition": str(mat.partition), "drawdown": f"{drawdown:.4f}"})
    )
    return None
