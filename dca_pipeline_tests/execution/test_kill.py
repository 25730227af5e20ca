"""SIGKILL a day's execution at random points (seeded) and rerun it: no duplicate order, no lost fill,
and the ledger matches an uninterrupted run with the identity intact."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from dca_pipeline.execution import ledger_views
from dca_pipeline.storage import duck

from . import kill_day
from .conftest import assert_identity

COLUMNS = "event_id, date, kind, client_order_id, symbol, side, status, quantity, price_brl, amount_centavos, cash_centavos, detail"
REPO = Path(__file__).resolve().parents[2]
PAUSE = 0.01


def _events(db: Path):  # noqa: ANN202
    return duck.query(db, f"select {COLUMNS} from execution.events order by event_id")


def test_killed_runs_resume_to_the_same_ledger(tmp_path: Path) -> None:
    reference = tmp_path / "reference.duckdb"
    started = time.monotonic()
    kill_day.run(reference, PAUSE)
    window = time.monotonic() - started  # kills land uniformly within an uninterrupted run's duration
    expected = _events(reference)
    fills = expected.filter(expected["kind"] == "fill").height
    assert fills > len(kill_day.SYMBOLS)  # several fills per order: kills land between them too
    rng = random.Random(20261126)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed_mid_run = 0
    for trial in range(20):
        db = tmp_path / f"trial{trial}.duckdb"
        proc = subprocess.Popen([sys.executable, "-m", "dca_pipeline_tests.execution.kill_day", str(db), str(PAUSE)],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, window))
        if proc.poll() is None:
            killed_mid_run += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kill_day.run(db, 0.0)  # rerun to completion
        got = _events(db)
        assert got.equals(expected), f"trial {trial}: ledger differs from the uninterrupted run"
        assert got["event_id"].n_unique() == got.height
        assert ledger_views.identity(db) == ledger_views.identity(reference)
        assert_identity(db)
        duck.close_all()
    assert killed_mid_run >= 15  # the kills really interrupted the runs
