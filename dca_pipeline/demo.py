"""`python -m dca_pipeline.demo [--month YYYY-MM]`: run one month of bundled history end to end and summarize it."""
import argparse
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from dagster import DagsterInstance

from dca_pipeline.monitoring.report import month_summary, render_summary
from dca_pipeline.runner import blocked_days_report, month_days, run_month
from dca_pipeline.paths import dca_home, warehouse_path

DEFAULT_MONTH = "2025-06"


@contextmanager
def unsynced_instance_writes() -> Iterator[None]:
    """Dagster's SQLite run and event storage without an fsync per event (`PRAGMA synchronous=OFF`), for this
    process only. Dagster opens, commits and closes a connection for every event; with the default
    `synchronous=FULL` each costs an fsync (≈25 ms on a small VM), and the demo's history ingest alone stores
    ≈2,300 materializations (≈4,600 events with their planned events). A crash or kill of the demo loses
    nothing (the OS still writes the pages); only an OS crash or power cut during the demo could damage the
    instance's run history, never the ledger, which lives in DuckDB. Dagster dev, the daemon and the schedules keep Dagster's
    defaults."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def no_fsync(dbapi_connection, _record) -> None:  # noqa: ANN001
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA synchronous=OFF")

    event.listen(Engine, "connect", no_fsync)
    try:
        yield
    finally:
        event.remove(Engine, "connect", no_fsync)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--month", default=DEFAULT_MONTH, help="month of bundled history to run (YYYY-MM)")
    args = parser.parse_args(argv)
    try:
        month = date.fromisoformat(f"{args.month}-01")
    except ValueError:
        parser.error(f"--month must look like 2021-01, got {args.month!r}")
    print(f"DCA_HOME={dca_home()}  DAGSTER_HOME={os.environ.get('DAGSTER_HOME', '(ephemeral instance)')}")
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    with unsynced_instance_writes(), instance:
        blocked = run_month(month, instance, log=lambda m: print(f"  · {m}", flush=True))
    from dca_pipeline.storage import duck

    last = duck.query(warehouse_path(), "select max(date) as d from monitoring.portfolio_performance where date >= ?", [month])["d"][0]
    print(render_summary(month_summary(warehouse_path(), month, last or month_days(month)[-1])))
    print(blocked_days_report(blocked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
