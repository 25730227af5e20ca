"""kill -9 of a run while it holds a concurrency pool slot: the next run still completes, with no operator."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from dca_pipeline.recovery import RUN_WORKER_TAG, worker_alive, worker_token
from dca_pipeline.paths import PROJECT_ROOT


def _start(home: Path, pool: str, seconds: float, out=subprocess.PIPE) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "dca_pipeline_tests.monitoring.pool_holder", pool, str(seconds)],
                            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_until_holding(victim: subprocess.Popen, home: Path, log: Path, timeout: float = 180) -> None:
    """The step touches `holding` once inside (its slot claimed). Its print goes to Dagster's compute log, whose
    mirror onto the process's stdout (`tail -F`) was seen to miss the line, so the test waits for the file."""
    deadline = time.monotonic() + timeout
    while not (home / "holding").exists():
        if victim.poll() is not None:
            pytest.fail(f"the run ended before holding its pool:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(victim.pid, signal.SIGKILL)
            pytest.fail(f"the run did not hold its pool within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.parametrize("pool", ["exchange_api", "duckdb_warehouse"])
def test_a_run_killed_holding_a_pool_slot_does_not_block_the_next(tmp_path: Path, pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "instance"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the project's event log storage finds its files there
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the project's instance config
    log = tmp_path / "victim.log"
    with log.open("w") as out:
        victim = _start(home, pool, 600, out)
    _wait_until_holding(victim, home, log)
    with DagsterInstance.from_config(str(home)) as instance:
        claimed = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
        assert len(claimed) == 1  # the victim holds the pool's only slot
        dead_run = claimed[0].run_id
    os.killpg(victim.pid, signal.SIGKILL)  # the machine "reboots": no cleanup at all
    victim.wait()

    rerun = _start(home, pool, 0)
    try:
        out, _ = rerun.communicate(timeout=120)  # blocked forever without recovery ("Step blocked by limit for pool")
    except subprocess.TimeoutExpired:
        os.killpg(rerun.pid, signal.SIGKILL)
        raise
    assert rerun.returncode == 0, out[-3000:]
    assert "success" in out
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info(pool).claimed_slots == []


def test_worker_liveness_from_the_token() -> None:
    assert worker_alive(worker_token()) is True
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = worker_token(proc.pid)
    proc.wait()
    assert worker_alive(token) is False  # exited
    assert worker_alive(f"{socket.gethostname()}:{os.getpid()}:1") is False  # same pid, another start: reused pid
    assert worker_alive(f"other-host-{socket.gethostname()}:1:1") is None  # another machine: left to the daemon
    assert RUN_WORKER_TAG == "dca/run_worker"
