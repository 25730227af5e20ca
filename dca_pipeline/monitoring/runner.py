"""Run a month end to end in process: ingest history, optimize the month, then execute each day in order.

Used by the demo command and the end-to-end test; each step is an ordinary Dagster run, so every run shows
up in the UI's run list and asset catalog when $DAGSTER_HOME is set.
"""
from datetime import date, timedelta

from dagster import DagsterInstance

from dca_pipeline.analytics.assets import LOOKBACK_DAYS
from dca_pipeline.config import Settings, cached_settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # events still reach the instance/UI


def month_days(month: date) -> list[date]:
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return [month + timedelta(days=i) for i in range((nxt - month).days)]


def history_days_needed(settings: Settings) -> int:
    """Raw history the month needs before its first day: indicators, the optimizer's lookback, the regime HMM."""
    from dca_pipeline.intelligence.assets_constants import REGIME_HISTORY_DAYS

    return max(LOOKBACK_DAYS, settings.portfolio.lookback_days, REGIME_HISTORY_DAYS) + 1


def run_month(month: date, instance: DagsterInstance, log=print) -> None:  # noqa: ANN001
    """Materialize the monthly partition and every daily partition of `month` (data must exist for them)."""
    from dca_pipeline.definitions import defs

    settings = cached_settings()
    daily_def = defs.resolve_job_def("daily_job").partitions_def
    last = date.fromisoformat(daily_def.get_last_partition_key())
    days = [d for d in month_days(month) if d <= last]
    if not days:
        raise ValueError(f"{month:%Y-%m} is after the last daily partition ({last})")
    if days[-1] < month_days(month)[-1]:
        log(f"the data ends on {last + timedelta(days=1)}: running {month:%Y-%m} through {days[-1]}")
    first_history = max(settings.history_start, month - timedelta(days=history_days_needed(settings)))
    ingest = defs.resolve_job_def("ingest_history_job")
    daily = defs.resolve_job_def("daily_job")
    monthly = defs.resolve_job_def("monthly_job")

    from dca_pipeline.monitoring.recovery import release_dead_runs, run_tags

    release_dead_runs(instance, log=log)  # a run killed earlier must not hold a pool slot forever
    tags = run_tags()
    log(f"ingesting raw bars and USD/BRL {first_history} .. {days[-1]} (one single-run backfill)")
    ingest.execute_in_process(
        instance=instance, run_config=QUIET, tags={**tags, RANGE_START: first_history.isoformat(), RANGE_END: days[-1].isoformat()}
    )
    eve = month - timedelta(days=1)
    log(f"features for {eve} (the monthly optimization reads the month's eve)")
    daily.execute_in_process(instance=instance, run_config=QUIET, partition_key=eve.isoformat(), tags=tags, asset_selection=[_key("features_daily")])
    log(f"monthly optimization for {month:%Y-%m}")
    monthly.execute_in_process(instance=instance, run_config=QUIET, tags=tags, partition_key=month.isoformat())
    for day in days:
        log(f"daily run {day}")
        daily.execute_in_process(instance=instance, run_config=QUIET, tags=tags, partition_key=day.isoformat())


def _key(name: str):  # noqa: ANN202
    from dagster import AssetKey

    return AssetKey(name)
