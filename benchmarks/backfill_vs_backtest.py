"""Benchmark: a 365-day single-run backfill of the daily execution path through Dagster vs the backtest of the
same range (issue 13's target: backfill ≤ 1.5 × backtest).

Both run the same day core (execution/day.py). Untimed set-up: the raw bars are ingested (one single-run backfill)
and the year's monthly partitions materialized, because the backfill reads stored targets while the backtest
computes them; the backtest is therefore also timed without its monthly work (`monthly targets`, measured by
timing `month_targets` + the regime fit on the same months) so the daily loops compare like for like.

Usage: python benchmarks/backfill_vs_backtest.py [--start 2021-01-01] [--end 2021-12-31]
Prints: backfill seconds, backtest seconds, their ratio (wall clock and CPU time: CPU is steadier on a shared
machine), the ratio of the daily loops alone, and Dagster's own share — the same single-run backfill through
empty assets of the same shape — with the backfill's time without it.

The backfill runs on an on-disk instance made from the project's dagster.yaml (`--instance project`, the
default: what `make dev` and the demo use), or with Dagster's stock SQLite event log (`--instance stock`), or in
memory (`--instance ephemeral`, which no user runs). Dagster records one planned and one materialization event
per partition and asset (365 × 4 here); Dagster's share is printed for all three instances.
"""
import argparse
import cProfile
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="2021-01-01")
    parser.add_argument("--end", default="2021-12-31")
    parser.add_argument("--profile", default="", help="write a cProfile of the backfill to this file")
    parser.add_argument("--instance", choices=INSTANCES, default="project", help="where Dagster keeps the run's events")
    args = parser.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    tmp = Path(tempfile.mkdtemp(prefix="dca_bench_"))
    os.environ["DCA_HOME"], os.environ["DAGSTER_HOME"] = str(tmp / "dca_home"), str(tmp / "dagster_home")
    (tmp / "dagster_home").mkdir()

    from dagster import materialize

    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.backtest.engine import _months, _regime, month_targets
    from dca_pipeline.config import load_settings
    from dca_pipeline.definitions import defs
    from dca_pipeline.execution.assets import execution_day
    from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
    from dca_pipeline.ingestion.sources import ReplaySource
    from dca_pipeline.monitoring.assets import portfolio_performance
    from dca_pipeline.storage import duck

    settings = load_settings()
    resources = dict(defs.resources)
    months = _months(start, end)
    with open_instance(args.instance, tmp / "dagster_home") as instance:
        run = lambda assets, **kw: materialize(assets, instance=instance, resources=resources, run_config=QUIET, **kw)  # noqa: E731
        t0 = time.perf_counter()
        prepare(instance, start, end)
        print(f"set-up (ingest + {len(months)} monthly partitions, untimed): {time.perf_counter() - t0:.1f} s", flush=True)
        profiler = cProfile.Profile() if args.profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = run([execution_day, portfolio_performance], tags={RANGE_START: start.isoformat(), RANGE_END: end.isoformat()})
        backfill, backfill_cpu = time.perf_counter() - t0, time.process_time() - c0
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        assert result.success
    duck.close_all()
    days = (end - start).days + 1
    print(f"single-run backfill, {days} days through Dagster: {backfill:.1f} s ({backfill / days * 1000:.0f} ms/day; CPU {backfill_cpu:.1f} s)", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    run_backtest(settings, start, end)
    backtest, backtest_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"backtest, same range (monthly targets + daily loop): {backtest:.1f} s (CPU {backtest_cpu:.1f} s)", flush=True)
    print(f"ratio backfill / backtest: {backfill / backtest:.2f}x (target <= 1.5x); CPU time: {backfill_cpu / backtest_cpu:.2f}x", flush=True)

    source, t0 = ReplaySource(), time.perf_counter()
    bars = split_valid_ohlcv(source.fetch_ohlcv_1d(start - timedelta(days=1101), end))[0]  # as run_backtest reads them
    previous = None
    for month in months:
        regime = _regime(bars.filter(bars["date"] < month), month, settings) if settings.portfolio.sizing.regime_scaling else None
        previous = month_targets(month, bars, source.fetch_market_caps(month), settings, previous, regime and regime["regime"])
    monthly = time.perf_counter() - t0
    loop = max(backtest - monthly, 1e-9)
    print(f"  of which monthly targets: {monthly:.1f} s; daily loop: {loop:.1f} s")
    print(f"ratio backfill / backtest daily loop: {backfill / loop:.2f}x")

    print(f"Dagster's own share: the same run with empty assets of the same shape (4 daily assets, {days} partitions):")
    floors = {}
    for kind in INSTANCES:
        floors[kind] = dagster_floor(start, end, kind, tmp / f"floor_{kind}")
        print(f"  {kind:9s} instance ({INSTANCES[kind]}): {floors[kind][0]:.1f} s (CPU {floors[kind][1]:.1f} s)", flush=True)
    floor = floors[args.instance][0]
    print(f"backfill ({args.instance} instance) without that share: {backfill - floor:.1f} s = "
          f"{(backfill - floor) / backtest:.2f}x the backtest")
    shutil.rmtree(tmp, ignore_errors=True)


def prepare(instance, start: date, end: date) -> None:  # noqa: ANN001
    """The untimed set-up in $DCA_HOME and `instance`: the raw bars the range needs (one single-run backfill) and
    the monthly partitions (features of each month's eve, then market caps → tiers → scores → regime → targets)."""
    from dagster import materialize

    from dca_pipeline.analytics.assets import features_daily
    from dca_pipeline.backtest.engine import _months
    from dca_pipeline.config import load_settings
    from dca_pipeline.definitions import defs
    from dca_pipeline.ingestion.assets import fx_usd_brl, market_caps, raw_ohlcv_1d
    from dca_pipeline.intelligence.assets import asset_scores, asset_tiers, market_regime
    from dca_pipeline.portfolio.assets import target_weights
    from dca_pipeline.runner import history_days_needed

    settings, resources = load_settings(), dict(defs.resources)
    run = lambda assets, **kw: materialize(assets, instance=instance, resources=resources, run_config=QUIET, **kw)  # noqa: E731
    first = max(settings.history_start, start - timedelta(days=history_days_needed(settings)))
    run([raw_ohlcv_1d, fx_usd_brl], tags={RANGE_START: first.isoformat(), RANGE_END: (end + timedelta(days=1)).isoformat()})
    for month in _months(start, end):
        run([features_daily], partition_key=(month - timedelta(days=1)).isoformat())
        run([market_caps, asset_tiers, asset_scores, market_regime, target_weights], partition_key=month.isoformat())


INSTANCES = {"project": "on disk, the project's dagster.yaml: dca_pipeline.event_storage",
             "stock": "on disk, Dagster's stock SQLite event log",
             "ephemeral": "in memory"}


def open_instance(kind: str, home: Path):  # noqa: ANN201
    """A DagsterInstance of `kind` (INSTANCES) in `home`; the on-disk ones take the project's dagster.yaml, `stock`
    without its event_log_storage entry. DAGSTER_HOME is pointed at `home` (the project's storage reads it)."""
    import re

    from dagster import DagsterInstance

    if kind == "ephemeral":
        return DagsterInstance.ephemeral()
    home.mkdir(parents=True, exist_ok=True)
    text = (Path(__file__).resolve().parents[1] / "dagster.yaml").read_text()
    if kind == "stock":
        text = re.sub(r"(?ms)^event_log_storage:\n(?:[ #].*?\n|\n)*?(?=^\S)", "", text)
        assert "event_log_storage" not in text.replace("# ", "")
    (home / "dagster.yaml").write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.from_config(str(home))


def dagster_floor(start: date, end: date, kind: str = "ephemeral", home: Path | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of a single-run backfill of `start`..`end` through assets shaped like ours — a multi-asset
    with two Nothing outputs and one stored output, and a downstream asset — that do nothing: what Dagster itself
    spends (the run, one planned and one materialization event per partition per asset)."""
    from dagster import (AssetIn, AssetOut, BackfillPolicy, DagsterInstance, InMemoryIOManager, Nothing, Output, asset,
                         materialize, multi_asset)

    from dca_pipeline.partitions import DAILY

    @multi_asset(outs={"a": AssetOut(dagster_type=Nothing, is_required=False), "b": AssetOut(dagster_type=Nothing, is_required=False),
                       "c": AssetOut(is_required=False, io_manager_key="mem")},
                 partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run(), can_subset=True)
    def day(context):  # noqa: ANN001, ANN202
        yield Output(None, "a", metadata={"days": 365, "orders": 1})
        yield Output(None, "b", metadata={"days": 365, "fills": 1})
        yield Output(1, "c", metadata={"days": 365})

    @asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run(), io_manager_key="mem", ins={"c": AssetIn("c")})
    def perf(context, c):  # noqa: ANN001, ANN202
        return 1

    saved = os.environ.get("DAGSTER_HOME")
    with open_instance(kind, home or Path(tempfile.mkdtemp(prefix="dca_floor_"))) as instance:
        t0, c0 = time.perf_counter(), time.process_time()
        materialize([day, perf], instance=instance, resources={"mem": InMemoryIOManager()}, run_config=QUIET,
                    tags={RANGE_START: start.isoformat(), RANGE_END: end.isoformat()})
        elapsed = time.perf_counter() - t0, time.process_time() - c0
    if saved is not None:
        os.environ["DAGSTER_HOME"] = saved
    return elapsed


if __name__ == "__main__":
    main()
