"""SIGKILL a day's execution at random points (seeded) and rerun it: the paper exchange, whose account
survives the kill, received each client order id exactly once; no lost fill; the ledger matches an
uninterrupted run with the identity intact, and ledger and exchange reconcile."""
import random
import time
from pathlib import Path

import polars as pl

from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.reconcile import ledger_side, paper_broker_side, reconcile
from dca_pipeline.storage import duck

from . import forked, kill_day
from .conftest import assert_identity

COLUMNS = "event_id, date, kind, client_order_id, symbol, side, status, quantity, price_brl, amount_centavos, cash_centavos, detail"
PAUSE = 0.02
TRIALS = 40


def _events(db: Path):  # noqa: ANN202
    return duck.query(db, f"select {COLUMNS} from execution.events order by event_id")


def _sent_not_recorded(db: Path) -> set[str]:
    """Orders the exchange booked whose outcome the ledger had not recorded when the process died."""
    account = kill_day.account_for(db)
    booked = set(account.accepted_counts())
    if not db.exists() or not duck.table_exists(db, "execution", "events"):
        return booked
    final = set(ledger_views.order_states(db).filter(pl.col("status").is_in(["filled", "expired"]))["client_order_id"].to_list())
    return booked - final


def test_killed_runs_resume_to_the_same_ledger_and_the_exchange_sees_each_order_once(tmp_path: Path) -> None:
    reference = tmp_path / "reference.duckdb"
    forked.start(kill_day.run, tmp_path / "warm-up.duckdb", 0.0).join()  # starts the fork server (it imports once)
    started = time.monotonic()
    forked.start(kill_day.run, reference, PAUSE).join()  # started as the victims are
    window = time.monotonic() - started  # kills land uniformly within an uninterrupted run's duration
    expected = _events(reference)
    expected_account = kill_day.account_for(reference).dump()
    order_ids = set(expected.filter(expected["kind"] == "order")["client_order_id"].to_list())
    fills = expected.filter(expected["kind"] == "fill").height
    assert fills > len(kill_day.SYMBOLS)  # several fills per order: kills land between them too
    rng = random.Random(20261204)
    killed_mid_run = in_flight = 0
    for trial in range(TRIALS):
        db = tmp_path / f"trial{trial}.duckdb"
        proc = forked.start(kill_day.run, db, PAUSE)
        time.sleep(rng.uniform(0, window))
        if proc.is_alive():
            killed_mid_run += 1
        proc.kill()  # SIGKILL
        proc.join()
        duck.close_all()
        in_flight += bool(_sent_not_recorded(db))  # killed between "order sent" and "order recorded"
        kill_day.run(db, 0.0)  # rerun to completion
        got = _events(db)
        assert got.equals(expected), f"trial {trial}: ledger differs from the uninterrupted run"
        account = kill_day.account_for(db)
        assert account.accepted_counts() == dict.fromkeys(order_ids, 1), f"trial {trial}: an order reached the exchange twice (or never)"
        assert account.dump() == expected_account, f"trial {trial}: the exchange's books differ"
        diffs = reconcile(*ledger_side(db), *paper_broker_side(db, account))
        assert diffs.is_empty(), f"trial {trial}: ledger and exchange disagree\n{diffs}"
        assert ledger_views.identity(db) == ledger_views.identity(reference)
        assert_identity(db)
        duck.close_all()
    assert killed_mid_run >= 30, f"{killed_mid_run} of {TRIALS} kills hit a running day"  # ≥ 30 kill points really interrupted the runs
    assert in_flight >= 3, f"{in_flight} kills between sent and recorded"  # and several landed after the exchange booked an order, before the ledger knew
