"""Where the time of a single-run backfill goes: the 365-day backfill of `backfill_vs_backtest.py`, run several times
on copies of one prepared home, with wall-clock timers on the functions that make up our share.

Usage: python benchmarks/backfill_breakdown.py [--start 2021-01-01] [--end 2021-12-31] [--runs 3]
Prints, per run: the backfill's wall and CPU time, the time inside each asset's compute function and inside the
timed functions (calls in brackets; nested timers overlap: a chart is inside `_output_metadata` or
`performance_explained`). The first run of a process also pays one-off imports (matplotlib, pyarrow.dataset…);
the later runs are what `backfill_vs_backtest.py` measures (it prepares the home in the same process).
Dagster's own share is what the run takes outside the compute functions and the IO manager.
"""
import argparse
import collections
import functools
import importlib
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backfill_vs_backtest import QUIET, RANGE_END, RANGE_START, open_instance, prepare  # noqa: E402

TIMED = (
    "dca_pipeline.execution.assets:_book_day",  # plan_day + guards + the paper engine on the in-memory book
    "dca_pipeline.execution.assets:position_rows",
    "dca_pipeline.execution.assets:read_daily_window",  # the stored bars of the range and its look-back
    "dca_pipeline.execution.range_book:RangeBook.flush",  # the bulk writes to DuckDB and the paper exchange
    "dca_pipeline.execution.assets:_output_metadata",
    "dca_pipeline.monitoring.assets:performance_explained",
    "dca_pipeline.monitoring.explain:read_daily_window",  # BTC's closes for the BTC-only comparison
    "dca_pipeline.charts:markdown_image",
    "dca_pipeline.storage.io_managers:WarehouseIOManager.handle_output",
    "dca_pipeline.storage.io_managers:WarehouseIOManager.load_input",
    "dca_pipeline.storage.duck:close_all",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="2021-01-01")
    parser.add_argument("--end", default="2021-12-31")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    tmp = Path(tempfile.mkdtemp(prefix="dca_breakdown_"))
    base = tmp / "base"
    os.environ["DCA_HOME"], os.environ["DAGSTER_HOME"] = str(base / "dca_home"), str(base / "dagster_home")

    from dagster import materialize

    from dca_pipeline.definitions import defs
    from dca_pipeline.execution.assets import execution_day
    from dca_pipeline.monitoring.assets import portfolio_performance
    from dca_pipeline.storage import duck

    with open_instance("project", base / "dagster_home") as instance:
        prepare(instance, start, end)
    duck.close_all()
    spent: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()
    for spec in TIMED:
        _time(spec, spent, calls)
    for asset in (execution_day, portfolio_performance):
        _time_compute(asset, spent)
    try:
        for k in range(args.runs):
            copy = tmp / f"run{k}"
            shutil.copytree(base, copy)
            os.environ["DCA_HOME"], os.environ["DAGSTER_HOME"] = str(copy / "dca_home"), str(copy / "dagster_home")
            spent.clear()
            calls.clear()
            with open_instance("project", copy / "dagster_home") as instance:
                t0, c0 = time.perf_counter(), time.process_time()
                result = materialize([execution_day, portfolio_performance], instance=instance, resources=dict(defs.resources),
                                     run_config=QUIET, tags={RANGE_START: start.isoformat(), RANGE_END: end.isoformat()})
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert result.success
            duck.close_all()
            ours = sum(v for n, v in spent.items() if n.startswith("compute ") or "IOManager" in n or n.endswith("close_all"))
            print(f"run {k + 1}: {wall:.2f} s (CPU {cpu:.2f} s); outside our compute, IO and close (Dagster): {wall - ours:.2f} s")
            for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
                print(f"  {seconds:6.2f} s  {name}" + (f" ({calls[name]})" if calls[name] else ""))
            shutil.rmtree(copy, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _timer(original, label: str, spent: dict, calls: collections.Counter | None = None):  # noqa: ANN001, ANN202
    """`original` with its wall-clock time added to spent[label] (and its calls counted); a generator function's
    time counts only while it runs, not while its consumer does."""
    import inspect

    if inspect.isgeneratorfunction(original):
        @functools.wraps(original)
        def timed_generator(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            iterator = original(*args, **kwargs)
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    spent[label] += time.perf_counter() - t0
                yield item

        return timed_generator

    @functools.wraps(original)
    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - t0
            if calls is not None:
                calls[label] += 1

    return timed


def _time(spec: str, spent: dict, calls: collections.Counter) -> None:
    """Wrap `module:attr` (attr may be Class.method) with a wall-clock timer."""
    module_name, path = spec.split(":")
    owner = importlib.import_module(module_name)
    *parents, attr = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    setattr(owner, attr, _timer(getattr(owner, attr), f"{module_name.rsplit('.', 1)[-1]}.{path}", spent, calls))


def _time_compute(asset, spent: dict) -> None:  # noqa: ANN001
    """Time spent inside an asset's compute function."""
    compute = asset.op.compute_fn
    timed = _timer(compute.decorated_fn, f"compute {asset.op.name}", spent)
    asset.op._compute_fn = compute._replace(decorated_fn=timed)  # noqa: SLF001 - a benchmark's instrumentation


if __name__ == "__main__":
    main()
