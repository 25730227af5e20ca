"""The TCA asset: implementation shortfall per order against the decision price, from the event ledger."""
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.execution import oms
from dca_pipeline.execution.broker_interface import DailyPaperBroker
from dca_pipeline.execution.guards import GuardContext
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

D = date(2021, 1, 5)


def test_tca_asset_reports_shortfall_per_order() -> None:
    from dagster import materialize

    from dca_pipeline.execution.tca_asset import execution_tca
    from dca_pipeline.resources import PipelineConfig
    from dca_pipeline.storage.resources import Warehouse

    db = warehouse_path()
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    orders = plan_dca_orders(D, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), prices, 5_000, 1_000)
    oms.record_plan(db, D, 5_000, orders)
    # next opens: A 101 (1% above its decision price 100), B 2.00 (at it); no slippage, taker 0.7%
    broker = DailyPaperBroker(pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "open": [101.0, 2.0]}), Decimal("0.007"), 0)
    oms.execute_day(db, D, broker, GuardContext(db, 10**9, 10**9))
    duck.close_all()
    r = materialize([execution_tca], partition_key=str(D), resources={"warehouse": Warehouse(), "config": PipelineConfig()})
    assert r.success
    t = duck.query(db, "select symbol, model, shortfall_centavos, shortfall_bps from execution.tca order by symbol")
    # A: R$25 → fee 17.5 → 18c, notional 24.82 → floor(24.82 / 101) = 0.24574257 worth 2457.4257c at 100: 42.5743c
    # B: fee 18c, notional 24.82 → 12.41 B worth exactly 2482c at 2.00: the 18c fee is the whole shortfall
    assert t["symbol"].to_list() == ["A/BRL", "B/BRL"] and set(t["model"]) == {"market_open"}
    assert t["shortfall_centavos"].to_list() == [43, 18]
    assert t["shortfall_bps"].to_list() == pytest.approx([42.5743 / 2457.4257 * 1e4, 18 / 2482 * 1e4])
