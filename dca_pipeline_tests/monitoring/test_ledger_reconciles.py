"""ledger_reconciles (blocking, on portfolio_performance): passes on a day with a buy and a sell, fails on a
ledger whose events no longer add up (a cash movement without its counterpart), stopping what follows."""
from datetime import date
from decimal import Decimal

import polars as pl
from dagster import MaterializeResult, asset, materialize

from dca_pipeline.execution import events as ev
from dca_pipeline.execution import projection
from dca_pipeline.monitoring.assets import DAILY, ledger_reconciles, portfolio_performance
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.io_managers import WarehouseIOManager

D = date(2021, 1, 5)


@asset(name="positions", partitions_def=DAILY)
def positions_stand_in() -> pl.DataFrame:
    return pl.DataFrame({"date": [D], "market_value_brl": [0.0]})


@asset(partitions_def=DAILY, deps=[portfolio_performance])
def after_performance() -> MaterializeResult:
    return MaterializeResult()


def _run():  # noqa: ANN202
    duck.close_all()
    return materialize([positions_stand_in, portfolio_performance, ledger_reconciles, after_performance],
                       partition_key=D.isoformat(), raise_on_error=False,
                       resources={"warehouse": Warehouse(), "warehouse_io_manager": WarehouseIOManager()})


def _trade(cid: str, side: str, qty: str, price: str, notional: int, fee: int) -> None:
    db = warehouse_path()
    ev.append_events(db, [ev.order_event(D, cid, "A/BRL", side, "planned", notional), ev.order_event(D, cid, "A/BRL", side, "sent")])
    ev.append_events(db, ev.fill_events(D, cid, "A/BRL", side, 1, Decimal(qty), Decimal(price), notional, fee))
    ev.append_events(db, [ev.order_event(D, cid, "A/BRL", side, "filled")])


def test_identity_holds_with_a_sell_and_breaks_on_a_tampered_ledger() -> None:
    db = warehouse_path()
    ev.append_events(db, [ev.contribution_event(D, 100_000)])
    _trade("b1", "buy", "2", "100", 20_000, 140)
    _trade("s1", "sell", "1", "150", 15_000, 105)  # 2 coins cost 201.40 (fee in): one is 100.70; 150 - 1.05 - 100.70
    projection.project_day(db, D)
    good = _run()
    check = good.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["realized_pnl_brl"].value == 48.25
    assert check.metadata["cost_basis_brl"].value == 100.70  # the coin left: half of 201.40
    assert len(good.asset_materializations_for_node("after_performance")) == 1

    with duck.transaction(db) as cur:  # R$10 leave cash with no fill, fee or contribution to explain them
        cur.execute("insert into execution.events values ('fee:ghost:1', nextval('execution.event_seq'), ?, 'fee', 'ghost', "
                    "'A/BRL', 'buy', null, null, null, 0, -1000, '{\"fill_seq\": 1}')", [D])
    bad = _run()
    check = bad.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["difference_centavos"].value == 1_000
    assert bad.asset_materializations_for_node("after_performance") == []
