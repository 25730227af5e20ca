"""`python -m dca_pipeline.demo [--month YYYY-MM]`: run one month of bundled history end to end and summarize it."""
import argparse
import os
import sys
from datetime import date

from dagster import DagsterInstance

from dca_pipeline.monitoring.report import month_summary, render_summary
from dca_pipeline.runner import month_days, run_month
from dca_pipeline.paths import dca_home, warehouse_path

DEFAULT_MONTH = "2025-06"


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
    with instance:
        blocked = run_month(month, instance, log=lambda m: print(f"  · {m}", flush=True))
    from dca_pipeline.storage import duck

    last = duck.query(warehouse_path(), "select max(date) as d from monitoring.portfolio_performance where date >= ?", [month])["d"][0]
    print(render_summary(month_summary(warehouse_path(), month, last or month_days(month)[-1])))
    if blocked:
        print(f"blocked days ({len(blocked)}): a blocking check stopped each; no orders were placed on them")
        for b in blocked:
            print(f"  {b.day}: {', '.join(b.checks)}")
    else:
        print("blocked days: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
