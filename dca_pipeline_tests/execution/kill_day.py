"""A day's execution against the order-book paper broker, as a script the kill test runs (and SIGKILLs).

The test starts each victim as a fork of a fork server that imported this module once (forked.py). The paper exchange's account lives next to the warehouse,
`<db>.broker.sqlite`, and survives the kill like a real exchange's books.

usage: python -m dca_pipeline_tests.execution.kill_day DB_PATH PAUSE_SECONDS
"""
from __future__ import annotations

import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import oms
from dca_pipeline.execution.paper_book_broker import Book, BookPaperBroker
from dca_pipeline.execution.guards import GuardContext, OrderIntent
from dca_pipeline.execution.paper_account import AccountBroker, PaperAccount
from dca_pipeline.execution.orders import plan_dca_orders

DAY = date(2021, 2, 1)
SYMBOLS = [f"C{i:02d}/BRL" for i in range(10)]


def book(i: int) -> Book:
    """Thin books: three ask levels of a few reais each, so orders fill in several pieces (some partially)."""
    p = Decimal(10 + i)
    asks = tuple((p + Decimal(k) / 10, Decimal("0.3") + Decimal(i % 3) / 10) for k in range(3))
    return Book(bids=((p - Decimal("0.1"), Decimal(5)),), asks=asks, tape=((p - Decimal("0.1"), Decimal("0.2")),))


class SlowBroker(AccountBroker):
    """Pauses before each order reaches the exchange and again after the exchange booked it (the order is
    sent, the ledger has not recorded it yet), so a kill can land anywhere in the day."""

    pause: float = 0.0

    def place(self, order: OrderIntent):  # noqa: ANN201
        time.sleep(self.pause)
        report = super().place(order)
        time.sleep(self.pause)
        return report


def account_for(db: Path) -> PaperAccount:
    return PaperAccount(db.with_suffix(".broker.sqlite"))


def run(db: Path, pause: float) -> None:
    targets = pl.DataFrame({"symbol": SYMBOLS, "weight": [1 / len(SYMBOLS)] * len(SYMBOLS)})
    prices = pl.DataFrame({"symbol": SYMBOLS, "close": [10.0 + i for i in range(len(SYMBOLS))]})
    holdings = pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)})
    orders = plan_dca_orders(DAY, targets, holdings, prices, 30_000, 1_000)
    oms.record_plan(db, DAY, 30_000, orders)
    engine = BookPaperBroker({s: book(i) for i, s in enumerate(SYMBOLS)}, Decimal("0.003"), Decimal("0.007"))
    broker = SlowBroker(engine, account_for(db))
    broker.pause = pause
    oms.execute_day(db, DAY, broker, GuardContext(db, 10**9, 10**9))


if __name__ == "__main__":
    run(Path(sys.argv[1]), float(sys.argv[2]))
