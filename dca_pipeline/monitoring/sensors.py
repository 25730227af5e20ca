"""Alert sensors: failed runs, the daily summary, stale live data and the drawdown circuit breaker."""

from datetime import date, timedelta, timezone

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from dca_pipeline.monitoring.jobs import daily_job
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def run_failure_alert(context: RunFailureSensorContext) -> None:
    """A CRITICAL alert for every failed run (job, partition, first error line), through the alert channels."""
    from dca_pipeline.governance.alerts import Alert, Severity, router_from_env

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
def daily_summary_alert(context: RunStatusSensorContext, warehouse: Warehouse) -> None:
    """After each successful daily run: an INFO summary (orders, fills, value, P&L, regime, failed checks)."""
    from dca_pipeline.governance.alerts import router_from_env
    from dca_pipeline.monitoring.summary import daily_summary_alert as build

    day = context.dagster_run.tags.get("dagster/partition")
    if not day:
        return
    alert = build(day, failed_checks=_failed_checks(context), warehouse=warehouse)
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
def stale_data_alert(context: SensorEvaluationContext, pipeline_config: PipelineConfig) -> SkipReason | None:
    """WARNING when live daily bars lag: the newest `raw_ohlcv_1d` partition is older than yesterday (UTC).

    With the replay source the data is history by design, so nothing is checked.
    """
    from datetime import datetime

    from dagster import AssetKey

    from dca_pipeline.governance.alerts import Alert, Severity, router_from_env

    if pipeline_config.settings().source == "replay":
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
    from dca_pipeline.governance.alerts import Alert, Severity, router_from_env

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
