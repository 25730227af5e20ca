"""January 2021 through the real jobs, built once per test session and shared (conftest's `january_2021`).

Building the month (three years of raw history for the regime model, the eve's features, the monthly
optimisation, the 31 days: 24 as one single-run backfill, then 7 one run each) is the suite's most expensive setup; the end-to-end tests, the blocked-day test,
the rebalance-sells month and the real-day kill test all start from it. A test that writes copies the home
it starts from (`copy_home`), so the shared state never changes.
"""
from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import AssetMaterialization, DagsterInstance

from dca_pipeline.runner import BlockedDay, prepare_month, run_days
from dca_pipeline.storage import duck

MONTH = date(2021, 1, 1)
PER_DAY = 7  # the month's last days run one by one, as the schedule runs them


@dataclass(frozen=True)
class BuiltMonth:
    prepared: Path  # $DCA_HOME after the history, the eve's features and the monthly optimisation: no day run yet
    home: Path  # $DCA_HOME after every day of the month
    days: list[date]
    blocked: list[BlockedDay]


@contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for the block (session fixtures cannot use monkeypatch), then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        duck.close_all()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def copy_home(src: Path, dst: Path) -> Path:
    """A private copy of a built $DCA_HOME (warehouse, raw Parquet, the paper exchange's books, GX)."""
    duck.close_all()
    shutil.copytree(src, dst)
    return dst


def build_month(root: Path, month: date = MONTH) -> BuiltMonth:
    work = root / "dca_home"
    with env(DCA_HOME=str(work)), DagsterInstance.ephemeral() as instance:
        days, tags = prepare_month(month, instance, log=lambda _m: None)
        duck.close_all()
        prepared = copy_home(work, root / "prepared")
        # the first days as one single-run backfill (the demo's and the UI backfill's path), the last PER_DAY days
        # one run each (the schedule's path), continuing from the ledger the range left: the end-to-end test then
        # compares the month built by both paths with the backtest to the centavo
        blocked = run_days(days[:-PER_DAY], instance, tags, log=lambda _m: None, one_run=True)
        blocked += run_days(days[-PER_DAY:], instance, tags, log=lambda _m: None)
    return BuiltMonth(prepared, work, days, blocked)


def build_month_once(root: Path, month: date = MONTH) -> BuiltMonth:
    """`build_month` shared by the test session's processes (pytest-xdist workers): the first to take the lock
    builds the month under `root`, the others wait and read what it built; nobody writes to it afterwards."""
    from filelock import FileLock

    built = root / "built.pickle"
    with FileLock(f"{root}.lock"):
        if not built.is_file():
            root.mkdir(parents=True, exist_ok=True)
            built.write_bytes(pickle.dumps(build_month(root, month)))
    return pickle.loads(built.read_bytes())


def record_month_targets(instance: DagsterInstance, month: date = MONTH) -> DagsterInstance:
    """Tell a fresh instance that the copied home's monthly targets exist (the daily assets ask the instance
    which target_weights partitions were materialized, the copy carries only the stored rows)."""
    instance.report_runless_asset_event(AssetMaterialization(asset_key="target_weights", partition=month.isoformat()))
    return instance
