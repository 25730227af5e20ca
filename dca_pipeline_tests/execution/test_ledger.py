"""The DuckDB ledger: a day's writes replace that day, and cash reconciles with fills."""
from datetime import date
from decimal import Decimal

import polars as pl

from dca_pipeline.execution import ledger
from dca_pipeline.execution.paper_fill import paper_fills
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

DAY = date(2021, 1, 5)


def _day_once(db) -> None:  # noqa: ANN001
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.6, 0.4]})
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    cash = ledger.cash_balance_centavos(db, date(2021, 1, 4)) + 5_000
    orders = plan_dca_orders(DAY, targets, ledger.holdings(db, date(2021, 1, 4)), prices, cash, 1000)
    ledger.record_orders(db, DAY, orders, 5_000)
    fills, status = paper_fills(orders, prices.rename({"close": "open"}), Decimal("0.007"), 0)
    ledger.record_fills(db, DAY, fills, status)


def _snapshot(db) -> tuple:  # noqa: ANN001
    return tuple(
        duck.query(db, f"select * from execution.{t} order by all").rows() for t in ("dca_orders", "fills", "cash_ledger")
    )


def test_rerunning_a_day_replaces_it_exactly() -> None:
    db = warehouse_path()
    _day_once(db)
    first = _snapshot(db)
    _day_once(db)
    assert _snapshot(db) == first
    assert len(first[0]) == 2 and len(first[1]) == 2
    statuses = duck.query(db, "select distinct status from execution.dca_orders")["status"].to_list()
    assert statuses == ["filled"]  # status updated by the fills


def test_cash_reconciles_with_contributions_costs_and_fees() -> None:
    db = warehouse_path()
    _day_once(db)
    totals = ledger.ledger_totals(db, DAY)
    held = ledger.holdings(db, DAY)
    fees = duck.query(db, "select sum(fee_centavos)::bigint as f from execution.fills")["f"][0]
    cash = ledger.cash_balance_centavos(db, DAY)
    assert totals["contribution"] == 5_000
    assert cash + int(held["cost_centavos"].sum()) + fees == 5_000
    assert cash == 0  # R$30 + R$20 orders spent it all


def test_ledger_totals_by_day_match_the_day_by_day_totals(tmp_path) -> None:  # noqa: ANN001
    db = tmp_path / "w.duckdb"
    rows = [  # (date, kind, centavos): one entry before the range, days with and without entries inside it
        (date(2021, 1, 1), "contribution", 5_000), (date(2021, 1, 1), "buy", -4_000), (date(2021, 1, 1), "fee", -28),
        (date(2021, 1, 3), "contribution", 3_000), (date(2021, 1, 3), "contribution", 226), (date(2021, 1, 3), "fee", -7),
        (date(2021, 1, 5), "buy", -1_000),  # after the range: never counted
    ]
    frame = pl.DataFrame([{"date": d, "entry_id": f"e{i}", "kind": k, "amount_centavos": c, "amount_brl": Decimal(c) / 100,
                           "client_order_id": None} for i, (d, k, c) in enumerate(rows)], schema=ledger.CASH_SCHEMA)
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "execution", "cash_ledger", frame, None)
    got = ledger.ledger_totals_by_day(db, date(2021, 1, 2), date(2021, 1, 4))
    by_hand = {
        date(2021, 1, 2): ({"contribution": 5_000, "buy": -4_000, "fee": -28}, {}),
        date(2021, 1, 3): ({"contribution": 8_226, "buy": -4_000, "fee": -35}, {"contribution": 3_226, "fee": -7}),
        date(2021, 1, 4): ({"contribution": 8_226, "buy": -4_000, "fee": -35}, {}),
    }
    assert got == by_hand
    assert {d: t for d, (t, _) in got.items()} == {d: ledger.ledger_totals(db, d) for d in got}  # the day-by-day read agrees
    assert ledger.ledger_totals_by_day(tmp_path / "empty.duckdb", date(2021, 1, 2), date(2021, 1, 3)) == {
        date(2021, 1, 2): ({}, {}), date(2021, 1, 3): ({}, {})}
    duck.close_all()
