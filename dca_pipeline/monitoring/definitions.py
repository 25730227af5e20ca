"""Monitoring's Dagster wiring: performance and the backtest report, the daily job and the alert sensors."""

from dca_pipeline.layers import layer_definitions
from dca_pipeline.monitoring import assets, sensors
from dca_pipeline.monitoring.jobs import daily_job, daily_schedule

defs = layer_definitions(
    "monitoring", [assets],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[sensors.run_failure_alert, sensors.daily_summary_alert, sensors.stale_data_alert,
             sensors.circuit_breaker_alert],
)
