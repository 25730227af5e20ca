"""Run a month end to end in process: ingest history, optimize the month, then execute each day in order.

Used by the demo command and the end-to-end test; each step is an ordinary Dagster run, so every run shows
up in the UI's run list and asset catalog when $DAGSTER_HOME is set.
"""
import os
from dataclasses import dataclass
from datetime import date, timedelta

from dagster import AssetCheckSeverity, DagsterInstance

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
    from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS

    return max(LOOKBACK_DAYS, settings.portfolio.lookback_days, REGIME_HISTORY_DAYS) + 1


def last_runnable_day(settings: Settings) -> date:
    """The last daily partition that can run: with the replay source, the day before the bundle's last bar (the paper
    broker fills at the next day's open); live, the last closed UTC day."""
    from dca_pipeline.definitions import defs
    from dca_pipeline.ingestion.sources import ReplaySource

    if settings.source == "replay":
        return ReplaySource().data_range()[1] - timedelta(days=1)
    return date.fromisoformat(defs.resolve_job_def("daily_job").partitions_def.get_last_partition_key())




@dataclass(frozen=True)
class BlockedDay:
    """A day whose blocking checks stopped its run: nothing downstream of them (no orders) was materialized."""

    day: date
    checks: tuple[str, ...]  # "asset:check" of each failed blocking check


def _blocked_or_raise(result, what: str, day: date) -> BlockedDay | None:  # noqa: ANN001
    """None for a successful run; the failed blocking checks of a run they stopped; any other failure raises."""
    if result.success:
        return None
    failed_checks = tuple(sorted({f"{e.asset_key.to_user_string()}:{e.check_name}" for e in result.get_asset_check_evaluations()
                                  if not e.passed and e.severity == AssetCheckSeverity.ERROR}))
    errors = [e for e in result.all_events if e.is_step_failure
              and e.step_failure_data.error is not None and e.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"]
    if errors or not failed_checks:
        first = errors[0].step_failure_data.error if errors else None
        raise RuntimeError(f"{what} failed ({errors[0].step_key if errors else 'no failed check'}): "
                           f"{first.message if first else result.run_id}")
    return BlockedDay(day, failed_checks)


def run_day(job, instance: DagsterInstance, day: date, tags: dict[str, str]) -> BlockedDay | None:  # noqa: ANN001
    """Run one daily partition. A blocking check that fails blocks only this day (returned); any other
    failure is an error and raises."""
    result = job.execute_in_process(instance=instance, run_config=QUIET, tags=tags, partition_key=day.isoformat(),
                                    raise_on_error=False)
    return _blocked_or_raise(result, f"daily run {day}", day)


def run_month(month: date, instance: DagsterInstance, log=print, one_run: bool = True) -> list[BlockedDay]:  # noqa: ANN001
    """Materialize the monthly partition and every daily partition of `month` (data must exist for them): the days
    as one single-run backfill (`one_run`), else one run per day.

    A day stopped by a blocking check blocks only itself: the following days run from the ledger as usual.
    Returns the blocked days (listed at the end by the demo)."""
    days, tags = prepare_month(month, instance, log)
    return run_days(days, instance, tags, log, one_run=one_run)


def run_days(days: list[date], instance: DagsterInstance, tags: dict[str, str] | None = None, log=print,  # noqa: ANN001
             job=None, one_run: bool = False) -> list[BlockedDay]:  # noqa: ANN001
    """Run the days' partitions of `job` (default: the project's daily_job) in order and return the blocked days.

    One run per day by default (what the schedule does). With `one_run`, the days go first as one single-run
    backfill of the range (the execution assets then plan and book them in bulk, execution/range_book.py); if a
    blocking check stops that run, nothing downstream of it ran, and the days are run one by one so that a
    blocked day blocks only itself and the next day runs from the ledger (a day already recorded stands)."""
    if job is None:
        from dca_pipeline.definitions import defs

        job = defs.resolve_job_def("daily_job")
    if one_run and len(days) > 1:
        log(f"daily runs {days[0]} .. {days[-1]} (one single-run backfill)")
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                        tags={**(tags or {}), RANGE_START: days[0].isoformat(), RANGE_END: days[-1].isoformat()})
        stop = _blocked_or_raise(result, f"daily runs {days[0]} .. {days[-1]}", days[0])
        if stop is None:
            return []
        log(f"a blocking check stopped the range ({', '.join(stop.checks)}): running its days one by one")
    blocked = []
    for day in days:
        log(f"daily run {day}")
        stop = run_day(job, instance, day, tags or {})
        if stop is not None:
            log(f"{day} blocked by {', '.join(stop.checks)}: no orders that day; the month goes on")
            blocked.append(stop)
    return blocked


def blocked_days_report(blocked: list[BlockedDay]) -> str:
    """The demo's closing lines: each blocked day with the blocking checks that stopped it."""
    if not blocked:
        return "blocked days: none"
    lines = [f"blocked days ({len(blocked)}): a blocking check stopped each; no orders were placed on them"]
    return "\n".join(lines + [f"  {b.day}: {', '.join(b.checks)}" for b in blocked])


def prepare_month(month: date, instance: DagsterInstance, log=print) -> tuple[list[date], dict[str, str]]:  # noqa: ANN001
    """Everything the month's days need before the first runs: raw history (one single-run backfill through
    the month's last day with data), the eve's features and the monthly optimization. Returns (the month's
    days with data, the run tags to pass on)."""
    from dca_pipeline.definitions import defs
    from dca_pipeline.recovery import release_dead_runs, run_tags

    settings = cached_settings()
    last = last_runnable_day(settings)
    days = [d for d in month_days(month) if d <= last]
    if not days:
        raise ValueError(f"{month:%Y-%m} is after the last day that can run ({last})")
    if days[-1] < month_days(month)[-1]:
        log(f"the data ends on {last + timedelta(days=1)}: running {month:%Y-%m} through {days[-1]}")
    first_history = max(settings.history_start, month - timedelta(days=history_days_needed(settings)))
    ingest = defs.resolve_job_def("ingest_history_job")
    daily = defs.resolve_job_def("daily_job")
    monthly = defs.resolve_job_def("monthly_job")

    release_dead_runs(instance, log=log)  # a run killed earlier must not hold a pool slot forever
    compiling = start_kernel_compilation()  # in parallel with the ingest below
    tags = run_tags()
    log(f"ingesting raw bars and USD/BRL {first_history} .. {days[-1]} (one single-run backfill)")
    ingest.execute_in_process(
        instance=instance, run_config=QUIET, tags={**tags, RANGE_START: first_history.isoformat(), RANGE_END: days[-1].isoformat()}
    )
    eve = month - timedelta(days=1)
    log(f"features for {eve} (the monthly optimization reads the month's eve)")
    daily.execute_in_process(instance=instance, run_config=QUIET, partition_key=eve.isoformat(), tags=tags, asset_selection=[_key("features_daily")])
    if compiling is not None:
        compiling.wait()  # the GARCH and HMM kernels are in the cache now (or the steps compile them themselves)
    log(f"monthly optimization for {month:%Y-%m}")
    monthly.execute_in_process(instance=instance, run_config=QUIET, tags=tags, partition_key=month.isoformat())
    return days, tags


def compile_kernels() -> None:
    """Compile (into numba's on-disk cache) every kernel a month needs: the indicator suite, the GARCH fit and the
    regime HMM, on small synthetic inputs. Run by `start_kernel_compilation` in a second process."""
    from datetime import date as _date

    import numpy as np
    import polars as pl

    from dca_pipeline.analytics.indicators import compute_features
    from dca_pipeline.intelligence.garch import fit_garch11
    from dca_pipeline.intelligence.hmm import fit_gaussian_hmm

    rng = np.random.default_rng(0)
    n = 260
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    compute_features(pl.DataFrame({"symbol": ["A/BRL"] * n, "date": [_date(2020, 1, 1) + timedelta(days=i) for i in range(n)],
                                   "open": close, "high": close * 1.02, "low": close * 0.98, "close": close,
                                   "volume": np.full(n, 1e6)}))
    fit_garch11(np.diff(np.log(close)))
    x = rng.normal(size=(300, 3))
    for cov in ("full", "diag"):
        fit_gaussian_hmm(x, 4, cov, 0).predict_proba(x)


def start_kernel_compilation():  # noqa: ANN201 - subprocess.Popen
    """On a fresh checkout numba compiles the indicator, GARCH and HMM kernels on first use (≈35 s of CPU): do it in a
    second process while this one ingests the history, so the month's steps load them from numba's on-disk cache
    (with a warm cache the second process only loads them, ≈3 s of CPU). DCA_COMPILE_KERNELS=0 turns it off."""
    import subprocess
    import sys

    from dca_pipeline.paths import PROJECT_ROOT

    if os.environ.get("DCA_COMPILE_KERNELS") == "0":
        return None
    return subprocess.Popen([sys.executable, "-W", "ignore", "-c", "from dca_pipeline.runner import compile_kernels; compile_kernels()"],
                            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _key(name: str):  # noqa: ANN202
    from dagster import AssetKey

    return AssetKey(name)
