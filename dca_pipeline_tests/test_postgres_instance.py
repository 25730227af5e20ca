"""The documented Postgres `dagster.yaml` works: a local PostgreSQL (Debian's package) stores a real run's events.

Skipped where PostgreSQL is not installed; CI installs it (see .ci/run).
"""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from dca_pipeline.definitions import defs
from dca_pipeline.paths import PROJECT_ROOT

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
RUN_AS = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():  # noqa: ANN201
    if not BIN:
        pytest.skip("PostgreSQL (Debian's postgresql package) is not installed")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: PostgreSQL refuses to start as root")
    bindir = Path(BIN[-1])
    root = Path(tempfile.mkdtemp(prefix="dca-pg-"))
    os.chmod(root, 0o777)
    data = root / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run([*RUN_AS, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
    subprocess.run(
        [*RUN_AS, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
         f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
        check=True, capture_output=True,
    )
    try:
        subprocess.run([*RUN_AS, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dagster"], check=True, capture_output=True)
        yield port
    finally:
        subprocess.run([*RUN_AS, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_documented_postgres_instance_stores_runs(postgres: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_pg_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{postgres}/dagster")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("ingest_history_job").execute_in_process(instance=instance, partition_key="2021-03-02")
        assert result.success
        runs = instance.get_runs()
        assert [r.run_id for r in runs] == [result.run_id]
        for name in ("raw_ohlcv_1d", "fx_usd_brl"):
            event = instance.get_latest_materialization_event(AssetKey(name))
            assert event is not None and event.run_id == result.run_id  # read back from PostgreSQL
