"""The bulk writers a range run uses: events appended in one insert keep the status machine, skip what is present
and audit each order change in the chain; the paper exchange books a batch once per client order id."""
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from dca_pipeline.execution import events as ev
from dca_pipeline.execution.broker_interface import BrokerFill, BrokerReport
from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.execution.paper_account import PaperAccount
from dca_pipeline.governance import audit
from dca_pipeline.storage import duck

DAY = date(2021, 3, 1)


def _lifecycle(cid: str) -> list[ev.Event]:
    return [ev.order_event(DAY, cid, "BTC/BRL", "buy", "planned", 10_000), ev.order_event(DAY, cid, "BTC/BRL", "buy", "sent"),
            *ev.fill_events(DAY, cid, "BTC/BRL", "buy", 1, Decimal("0.00012345"), Decimal("80000.1234567891"), 9_930, 70),
            ev.order_event(DAY, cid, "BTC/BRL", "buy", "filled")]


def test_bulk_append_orders_skips_present_and_audits_each_order_change(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    batch = [ev.contribution_event(DAY, 20_000), *_lifecycle("a"), *_lifecycle("b")]
    assert ev.append_events(db, batch) == 11
    assert ev.append_events(db, batch) == 0  # a rerun inserts nothing
    rows = duck.query(db, "select event_id, seq, quantity, price_brl from execution.events order by seq")
    assert rows["event_id"].to_list() == [e.event_id for e in batch]  # seq follows the batch order
    assert rows["seq"].to_list() == sorted(set(rows["seq"].to_list()))
    assert rows["quantity"][3] == Decimal("0.00012345") and rows["price_brl"][3] == Decimal("80000.1234567891")
    log = audit.entries(db)
    assert log["action"].to_list() == ["order_planned", "order_sent", "order_filled"] * 2  # fills and cash are not order changes
    assert audit.verify_chain(db).ok
    duck.close_all()


def test_bulk_append_refuses_a_forbidden_transition_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    ev.append_events(db, [ev.order_event(DAY, "c", "ETH/BRL", "buy", "planned", 5_000)])
    bad = [ev.order_event(DAY, "d", "ETH/BRL", "buy", "planned", 5_000), ev.order_event(DAY, "c", "ETH/BRL", "buy", "filled")]
    with pytest.raises(ev.TransitionError, match="planned -> filled"):
        ev.append_events(db, bad)
    assert duck.query(db, "select count(*) as n from execution.events")["n"][0] == 1  # all or nothing
    assert len(audit.entries(db)) == 1
    duck.close_all()


def test_accept_many_books_each_client_id_once(tmp_path: Path) -> None:
    account = PaperAccount(tmp_path / "paper.sqlite")
    at = datetime(2021, 3, 2, tzinfo=timezone.utc)
    first = [(OrderIntent(DAY, f"o{i}", "BTC/BRL", "buy", 10_000),
              BrokerReport(f"o{i}", "filled", (BrokerFill(1, Decimal("0.0001"), Decimal("99000.5"), 9_930, 70, "taker", at),)))
             for i in range(3)]
    booked = account.accept_many(first)
    assert [booked[f"o{i}"].fills for i in range(3)] == [r.fills for _, r in first]
    assert [booked[f"o{i}"].exchange_order_id for i in range(3)] == ["paper-1", "paper-2", "paper-3"]
    again = [(o, BrokerReport(o.client_order_id, "expired")) for o, _ in first[:2]]
    kept = account.accept_many(again)
    assert kept["o0"].status == "filled" and kept["o1"].fills == first[1][1].fills  # the first booking stands
    assert account.accepted_counts() == {"o0": 1, "o1": 1, "o2": 1}
    assert account.orders_since(DAY) == 3 and account.orders_since(date(2021, 3, 2)) == 0
