"""The default (multiprocess) executor: parallel steps writing the same DuckDB file wait for its lock, none fails."""
import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance

from dca_pipeline.definitions import defs
from dca_pipeline.paths import PROJECT_ROOT, warehouse_path
from dca_pipeline.storage import duck

DAY = "2021-03-02"


def test_parallel_warehouse_steps_in_separate_processes(tmp_path: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        defs.resolve_job_def("ingest_history_job").execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": "2021-02-20", "dagster/asset_partition_range_end": DAY},
        )
    dg = Path(sys.executable).with_name("dg")  # `dg launch` supersedes `dagster asset materialize`
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(dg), "launch", "--partition", DAY, "--assets", "features_daily,risk_metrics,correlation_matrix"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "multiprocess" in log.lower()  # really one process per step
    for table in ("features_daily", "risk_metrics", "correlation_matrix"):
        rows = duck.query(warehouse_path(), f"select count(*) as n from analytics.{table} where date = ?", [DAY])
        assert rows["n"][0] > 0, table
