"""SIGKILL the live broker's day at random points against the loopback Mercado Bitcoin server (which survives
the client's death, as an exchange does) and rerun: the exchange received each client order id once, and its
own order count equals the ledger's."""
import random
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.execution import ledger_views
from dca_pipeline.storage import duck

from . import forked, kill_live_day
from .conftest import assert_identity
from .mb_loopback import MbServer

PAUSE = 0.05
TRIALS = 12


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_MB_API_KEY", "key")
    monkeypatch.setenv("DCA_MB_API_SECRET", "secret")


def test_killed_live_runs_never_place_an_order_twice(tmp_path: Path, creds) -> None:  # noqa: ANN001
    forked.start(int).join()  # starts the fork server (it imports ccxt and the execution layer once)
    reference_server = MbServer()
    try:
        started = time.monotonic()
        forked.start(kill_live_day.run, tmp_path / "reference.duckdb", reference_server.url, PAUSE).join()  # as the victims
        window = time.monotonic() - started
        expected = ledger_views.order_states(tmp_path / "reference.duckdb").select("client_order_id", "status", "filled_quantity")
    finally:
        reference_server.shutdown()
    assert len(expected) == len(kill_live_day.SYMBOLS) and set(expected["status"]) == {"filled"}
    rng = random.Random(20261204)
    killed_mid_run = 0
    for trial in range(TRIALS):
        server = MbServer()
        try:
            db = tmp_path / f"live{trial}.duckdb"
            proc = forked.start(kill_live_day.run, db, server.url, PAUSE)
            time.sleep(rng.uniform(0, window))
            killed_mid_run += proc.is_alive()
            proc.kill()  # SIGKILL
            proc.join()
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
