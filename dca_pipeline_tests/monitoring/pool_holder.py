"""A job holding one concurrency pool for a while, with the project's executor; the crash-recovery test
SIGKILLs it while it holds the slot, then runs it again.

usage: python -m dca_pipeline_tests.monitoring.pool_holder POOL SECONDS  (DAGSTER_HOME = the instance)
"""
import os
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, Definitions, asset, define_asset_job, execute_job, in_process_executor, reconstructable

from dca_pipeline.recovery import recovering


def _holder(pool: str):  # noqa: ANN202
    @asset(name=f"hold_{pool}", pool=pool, config_schema={"seconds": float})
    def hold(context) -> None:  # noqa: ANN001
        print("holding", flush=True)  # into the step's compute log
        (Path(os.environ["DAGSTER_HOME"]) / "holding").touch()  # for the test, which cannot see that log
        time.sleep(context.op_config["seconds"])

    return hold


POOLS = ("exchange_api", "duckdb_warehouse")
ASSETS = [_holder(p) for p in POOLS]
JOBS = {p: define_asset_job(f"hold_{p}_job", selection=[f"hold_{p}"], executor_def=recovering(in_process_executor)) for p in POOLS}
defs = Definitions(assets=ASSETS, jobs=list(JOBS.values()))


def job_for(pool: str):  # noqa: ANN201
    return defs.resolve_job_def(f"hold_{pool}_job")


def hold_exchange_api():  # noqa: ANN201
    return job_for("exchange_api")


def hold_duckdb_warehouse():  # noqa: ANN201
    return job_for("duckdb_warehouse")


if __name__ == "__main__":
    pool, seconds = sys.argv[1], float(sys.argv[2])
    job = reconstructable(hold_exchange_api if pool == "exchange_api" else hold_duckdb_warehouse)
    with DagsterInstance.get() as instance:
        result = execute_job(job, instance, run_config={"ops": {f"hold_{pool}": {"config": {"seconds": seconds}}}})
        print("success" if result.success else "failure", flush=True)
        sys.exit(0 if result.success else 1)
