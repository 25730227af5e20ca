"""A day's execution with the live broker (real ccxt client) against a loopback Mercado Bitcoin v4 server that
lives in the test process and keeps its order book across this process's death.

The test starts each victim as a fork of a fork server that imported this module once (forked.py).

usage: python -m dca_pipeline_tests.execution.kill_live_day DB_PATH SERVER_URL PAUSE_SECONDS
"""
from __future__ import annotations

import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import oms
from dca_pipeline.execution.guards import GuardContext, OrderIntent
from dca_pipeline.execution.live_broker import LiveCcxtBroker, exchange_from_env
from dca_pipeline.execution.orders import plan_dca_orders

DAY = date(2021, 2, 1)
SYMBOLS = [f"{c}/BRL" for c in "ABCDEF"]


class SlowLive(LiveCcxtBroker):
    pause: float = 0.0

    def place(self, order: OrderIntent):  # noqa: ANN201
        time.sleep(self.pause)  # before the exchange hears of it
        report = super().place(order)
        time.sleep(self.pause)  # the exchange has it; the ledger does not know yet
        return report


def run(db: Path, url: str, pause: float) -> None:
    targets = pl.DataFrame({"symbol": SYMBOLS, "weight": [1 / len(SYMBOLS)] * len(SYMBOLS)})
    prices = pl.DataFrame({"symbol": SYMBOLS, "close": [100.0] * len(SYMBOLS)})
    orders = plan_dca_orders(DAY, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), prices, 30_000, 1_000)
    oms.record_plan(db, DAY, 30_000, orders)
    exchange = exchange_from_env(url, timeout_ms=2_000)
    exchange.enableRateLimit = False
    broker = SlowLive(exchange, Decimal("0.003"), Decimal("0.007"))
    broker.pause = pause
    oms.execute_day(db, DAY, broker, GuardContext(db, 10**9, 10**9))


if __name__ == "__main__":
    run(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
