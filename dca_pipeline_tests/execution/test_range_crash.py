"""A range run of the execution assets killed between the bulk transactions of a flush (execution/range_book.py)
resumes to the ledger an undisturbed run writes, and the paper exchange executes every order exactly once.

A flush writes (1) the plans and `sent` marks, (2) the exchange's bookings, (3) the fills and final statuses. The
kill is an exception raised inside the exchange's bulk booking — before it books anything (after transaction 1)
or after it booked the whole batch (after transaction 2) — so the run stops with the warehouse and the exchange
as a real kill there leaves them; the rerun of the same range takes the recorded days through the order manager,
which asks the exchange before placing any order. Ten days of January 2021 on a copy of a prepared month."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from dca_pipeline.execution.paper_account import PaperAccount
from dca_pipeline.storage import duck
from dca_pipeline_tests.months import MONTH, copy_home, env, record_month_targets

FIRST, LAST = MONTH, MONTH + timedelta(days=9)
RANGE = {"dagster/asset_partition_range_start": FIRST.isoformat(), "dagster/asset_partition_range_end": LAST.isoformat()}
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = {
    "events": "select event_id, date, kind, client_order_id, symbol, side, status, quantity, price_brl, amount_centavos, "
              "cash_centavos from execution.events order by event_id",
    "dca_orders": "select * from execution.dca_orders order by all",
    "fills": "select * from execution.fills order by all",
    "cash_ledger": "select * from execution.cash_ledger order by all",
    "day_decisions": "select * from execution.day_decisions order by all",
    "positions": "select * from execution.positions order by all",
}


class Killed(RuntimeError):
    """Stands for the process dying at the chosen point."""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$DCA_HOME with January 2021's history, eve features and targets, no day run (runner.prepare_month)."""
    from dca_pipeline.runner import prepare_month

    root = tmp_path_factory.mktemp("range_crash")
    home = root / "prepared"
    with env(DCA_HOME=str(home), DAGSTER_HOME=str(root)), DagsterInstance.ephemeral() as instance:
        prepare_month(MONTH, instance, log=lambda _m: None)
    return home


def _run_range(home: Path) -> bool:
    from dca_pipeline.definitions import defs
    from dca_pipeline.execution.assets import execution_day

    with env(DCA_HOME=str(home)), DagsterInstance.ephemeral() as instance:
        result = materialize([execution_day], instance=record_month_targets(instance), resources=dict(defs.resources),
                             run_config=QUIET, tags=RANGE, raise_on_error=False)
        return result.success


def _tables(home: Path) -> dict[str, list[tuple]]:
    db = home / "warehouse.duckdb"
    out = {name: duck.query(db, sql).rows() for name, sql in TABLES.items()}
    duck.close_all()
    return out


def _sent_ids(home: Path) -> set[str]:
    rows = duck.query(home / "warehouse.duckdb", "select distinct client_order_id from execution.events where status = 'sent'")
    duck.close_all()
    return set(rows["client_order_id"].to_list())


@pytest.fixture(scope="module")
def undisturbed(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple]]]:
    home = copy_home(prepared, tmp_path_factory.mktemp("undisturbed") / "dca_home")
    assert _run_range(home)
    return home, _tables(home)


@pytest.mark.parametrize("after", ["plans", "bookings"])
def test_a_range_killed_between_the_bulk_transactions_resumes_to_the_undisturbed_ledger(
        after: str, prepared: Path, undisturbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    home = copy_home(prepared, tmp_path / "dca_home")
    account = PaperAccount(home / "broker" / "warehouse.paper.sqlite")
    book_batch = PaperAccount.accept_many

    def killed(self, placed):  # noqa: ANN001, ANN202
        if after == "bookings":
            book_batch(self, placed)
        raise Killed(f"killed after the {after}")

    monkeypatch.setattr(PaperAccount, "accept_many", killed)
    assert not _run_range(home)
    db = home / "warehouse.duckdb"
    state = duck.query(db, "select count(*) filter (where kind = 'contribution') as days, count(*) filter (where status = 'sent') as sent, "
                           "count(*) filter (where kind = 'fill') as fills from execution.events")
    duck.close_all()
    days, sent, fills = state.row(0)
    assert days == (LAST - FIRST).days + 1 and sent > 0 and fills == 0  # transaction 1 is durable, transaction 3 never ran
    assert len(account.accepted_counts()) == (sent if after == "bookings" else 0)

    monkeypatch.setattr(PaperAccount, "accept_many", book_batch)
    assert _run_range(home)  # the rerun: the recorded days through the order manager
    _, expected = undisturbed
    got = _tables(home)
    for name in TABLES:
        assert got[name] == expected[name], name
    counts = account.accepted_counts()
    assert counts and set(counts) == _sent_ids(home) and set(counts.values()) == {1}  # each sent order executed once
