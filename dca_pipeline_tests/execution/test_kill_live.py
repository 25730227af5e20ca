"""SIGKILL the live broker's day at random points against the loopback Mercado Bitcoin server (which survives
the client's death, as an exchange does) and rerun: the exchange received each client order id once, and its
own order count equals the ledger's."""
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.execution import ledger_views
from dca_pipeline.storage import duck

from . import kill_live_day
from .conftest import assert_identity
from .mb_loopback import MbServer

REPO = Path(__file__).resolve().parents[2]
PAUSE = 0.05
TRIALS = 12


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_MB_API_KEY", "key")
    monkeypatch.setenv("DCA_MB_API_SECRET", "secret")


def test_killed_live_runs_never_place_an_order_twice(tmp_path: Path, creds) -> None:  # noqa: ANN001
    for warm in (True, False):  # the first run pays ccxt's import: time the second
        reference_server = MbServer()
        try:
            started = time.monotonic()
            kill_live_day.run(tmp_path / f"reference{warm}.duckdb", reference_server.url, PAUSE)
            window = time.monotonic() - started
            expected = ledger_views.order_states(tmp_path / f"reference{warm}.duckdb").select("client_order_id", "status", "filled_quantity")
        finally:
            reference_server.shutdown()
    assert len(expected) == len(kill_live_day.SYMBOLS) and set(expected["status"]) == {"filled"}
    rng = random.Random(20261204)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed_mid_run = 0
    for trial in range(TRIALS):
        server = MbServer()
        try:
            db = tmp_path / f"live{trial}.duckdb"
            proc = subprocess.Popen([sys.executable, "-m", "dca_pipeline_tests.execution.kill_live_day", str(db), server.url, str(PAUSE)],
                                    cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0, window))
            killed_mid_run += proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            duck.close_all()
            kill_live_day.run(db, server.url, 0.0)  # rerun to completion
            per_id = Counter(o["externalId"] for o in server.orders)
            assert set(per_id.values()) == {1}, f"trial {trial}: an order reached the exchange twice: {per_id}"
            got = ledger_views.order_states(db).select("client_order_id", "status", "filled_quantity")
            assert got.equals(expected), f"trial {trial}: ledger differs from the uninterrupted run"
            assert len(server.orders) == got.height == server.creates  # the exchange's own count equals the ledger's
            assert set(per_id) == set(got["client_order_id"].to_list())
            assert_identity(db)
            duck.close_all()
        finally:
            server.shutdown()
    assert killed_mid_run >= TRIALS // 2
