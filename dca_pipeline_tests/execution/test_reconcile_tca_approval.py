"""Reconciliation differences, post-trade costs by hand, and the approve_orders job from run config."""
from datetime import date
from decimal import Decimal

import polars as pl
from dagster import DagsterInstance

from dca_pipeline.execution import ledger_views, oms
from dca_pipeline.execution.approval import approve_orders_job
from dca_pipeline.execution.reconcile import base_positions, reconcile
from dca_pipeline.execution.tca import post_trade_costs
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage.resources import Warehouse

D = date(2021, 1, 5)


def test_reconcile_lists_every_difference() -> None:
    mine = {"BTC": Decimal("0.5"), "ETH": Decimal("2")}
    theirs = {"BTC": Decimal("0.5"), "ETH": Decimal("1.9"), "ADA": Decimal("3"), "DOGE": Decimal(0), "BRL": Decimal("12.34")}
    diffs = reconcile(mine, 1_234, {"o1", "o2"}, theirs, {"o2", "o3"})
    assert diffs["item"].to_list() == ["position ADA", "position ETH", "open order o1", "open order o3"]
    assert diffs.filter(pl.col("item") == "position ETH")["difference"][0] == "-0.1"
    assert reconcile(mine, 1_000, set(), {**mine, "BRL": Decimal("10.01")}, set())["item"].to_list() == ["cash BRL"]
    assert reconcile(mine, 1_000, set(), {**mine, "BRL": Decimal("10.00")}, set()).is_empty()
    pos = pl.DataFrame({"symbol": ["BTC/BRL", "X/BRL"], "quantity": [Decimal("0.5"), Decimal(0)]})
    assert base_positions(pos) == {"BTC": Decimal("0.5")}


def test_post_trade_costs_by_hand() -> None:
    states = pl.DataFrame({
        "client_order_id": ["b", "s"], "symbol": ["A/BRL", "A/BRL"], "side": ["buy", "sell"],
        "filled_quantity": [Decimal("2"), Decimal("1")], "filled_centavos": [20_100, 9_900], "fee_centavos": [141, 69],
    })
    out = {r["client_order_id"]: r for r in post_trade_costs(states, {"b": 100.0, "s": 100.0}).iter_rows(named=True)}
    # buy 2 at an average R$100.50 vs arrival R$100: R$1.00 slippage = 50 bps; cost (100 + 141) / 20000 = 120.5 bps
    assert out["b"]["slippage_centavos"] == 100 and abs(out["b"]["slippage_bps"] - 50) < 1e-9
    assert abs(out["b"]["cost_bps"] - 120.5) < 1e-9
    # sell 1 at R$99 vs R$100: got R$1 less
    assert out["s"]["slippage_centavos"] == 100 and abs(out["s"]["slippage_bps"] - 100) < 1e-9


def test_approve_orders_job_from_run_config() -> None:
    db = warehouse_path()
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    orders = plan_dca_orders(D, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), prices, 5_000, 1_000)
    oms.record_plan(db, D, 5_000, orders)
    from dca_pipeline.execution.guards import GuardContext
    from dca_pipeline_tests.execution.test_oms import CountingBroker

    broker = CountingBroker()
    oms.execute_day(db, D, broker, GuardContext(db, 10**9, 10**9), "manual")
    a, b = oms.pending_ids(db, D)
    with DagsterInstance.ephemeral() as instance:
        result = approve_orders_job.execute_in_process(
            instance=instance, resources={"warehouse": Warehouse()},
            run_config={"ops": {"approve_pending_orders": {"config": {"client_order_ids": [a], "reject_client_order_ids": [b]}}}},
        )
    assert result.success and result.output_for_node("approve_pending_orders") == {"approved": [a], "rejected": [b]}
    states = oms.execute_day(db, D, broker, GuardContext(db, 10**9, 10**9), "manual")
    assert broker.sent == [a] and dict(zip(states["client_order_id"], states["status"])) == {a: "filled", b: "rejected"}
    assert ledger_views.identity(db).holds


def _reconciliation_fixture():  # noqa: ANN202
    """A paper day executed through the persistent paper account; returns a runner of the blocking check."""
    from dagster import materialize

    from dca_pipeline.execution import projection
    from dca_pipeline.execution.assets import ledger_matches_broker, reconciliation
    from dca_pipeline.execution.guards import GuardContext
    from dca_pipeline.execution.paper_account import AccountBroker
    from dca_pipeline.execution.resources import Broker
    from dca_pipeline.execution.wiring import paper_account
    from dca_pipeline.resources import PipelineConfig
    from dca_pipeline.storage import duck
    from dca_pipeline_tests.execution.test_oms import CountingBroker

    db = warehouse_path()
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    orders = plan_dca_orders(D, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), prices, 5_000, 1_000)
    oms.record_plan(db, D, 5_000, orders)
    oms.execute_day(db, D, AccountBroker(CountingBroker(), paper_account(db)), GuardContext(db, 10**9, 10**9))
    projection.project_day(db, D)
    resources = {"warehouse": Warehouse(), "config": PipelineConfig(), "broker": Broker(mode="paper")}

    def run():  # noqa: ANN202
        duck.close_all()
        r = materialize([reconciliation, ledger_matches_broker], partition_key=str(D), resources=resources, raise_on_error=False)
        return r.get_asset_check_evaluations()[0]

    return db, paper_account(db), run


def test_reconciliation_catches_a_fill_the_ledger_lacks() -> None:
    import sqlite3

    db, account, run = _reconciliation_fixture()
    assert run().passed
    with sqlite3.connect(account.path) as con:  # the exchange filled 2 more B that the ledger never heard of
        con.execute("insert into fills values ('dca-20210105-B-BRL-buy', 9, 'B/BRL', 'buy', '2', '2', 400, 3, 'taker', null)")
    check = run()
    assert not check.passed and check.metadata["differences"].value == 2
    table = check.metadata["differences_table"].value
    assert "position B" in table and "cash BRL" in table
    assert "| 2 |" in table or "2.00000000" in table or "| 2" in table  # B: the broker has 2 more
    assert "-4.03" in table  # cash: R$4.00 notional + R$0.03 fee left the exchange account only


def test_reconciliation_catches_a_fill_the_broker_lacks() -> None:
    from dca_pipeline.execution import events as ev

    db, _account, run = _reconciliation_fixture()
    assert run().passed
    ev.append_events(db, [ev.contribution_event(date(2021, 1, 6), 500)])  # deposits count on both sides
    assert run().passed
    ev.append_events(db, ev.fill_events(D, "dca-20210105-A-BRL-buy", "A/BRL", "buy", 9, Decimal("0.01"), Decimal(100), 100, 1))
    check = run()
    assert not check.passed and check.metadata["differences"].value == 2
    table = check.metadata["differences_table"].value
    assert "position A" in table and "cash BRL" in table
    assert "-0.01" in table and "1.01" in table  # the ledger holds 0.01 A more and R$1.01 less cash


def test_reconciliation_signs_sells_and_includes_cash() -> None:
    """A buy of 3 then a sell of 2 at the exchange is a position of 1 (not 5), with cash by hand."""
    from dca_pipeline.execution.guards import OrderIntent
    from dca_pipeline.execution.paper_account import PaperAccount
    from dca_pipeline.execution.broker_interface import BrokerFill, BrokerReport
    from dca_pipeline.paths import dca_home

    account = PaperAccount(dca_home() / "broker" / "signs.sqlite")
    buy = OrderIntent(D, "b1", "X/BRL", "buy", 3_100)
    sell = OrderIntent(D, "s1", "X/BRL", "sell", 0, Decimal(2))
    account.accept(buy, BrokerReport("b1", "filled", (BrokerFill(1, Decimal(3), Decimal(10), 3_000, 21, "taker"),)))
    account.accept(sell, BrokerReport("s1", "filled", (BrokerFill(1, Decimal(2), Decimal(12), 2_400, 17, "taker"),)))
    assert account.positions() == {"X": Decimal(1)}
    assert account.trade_cash_centavos() == -3_000 - 21 + 2_400 - 17  # = -638
    assert account.accepted_counts() == {"b1": 1, "s1": 1}
    again = account.accept(buy, BrokerReport("b1", "filled", (BrokerFill(1, Decimal(99), Decimal(1), 99, 0, "taker"),)))
    assert again.fills[0].quantity == Decimal(3)  # a known id keeps its first booking
    assert account.accepted_counts() == {"b1": 1, "s1": 1}


def test_reconciliation_passes_after_a_sell() -> None:
    """A buy day then a rebalance sell through the paper account: ledger and exchange agree (signed), and the
    blocking check passes (summing the sold quantity as positive would report 0.4882 instead of 0.0082)."""
    from dca_pipeline.execution.broker_interface import DailyPaperBroker
    from dca_pipeline.execution.guards import GuardContext
    from dca_pipeline.execution.orders import plan_legs
    from dca_pipeline.execution.paper_account import AccountBroker

    db, account, run = _reconciliation_fixture()
    day2 = date(2021, 1, 6)
    legs = pl.DataFrame({"symbol": ["A/BRL"], "side": ["sell"], "amount_centavos": [2_400]})
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    orders, skipped = plan_legs(day2, legs, ledger_views.positions(db), prices, 0, 1_000)
    assert skipped.is_empty()
    oms.record_plan(db, day2, 0, orders)
    rising = DailyPaperBroker(pl.DataFrame({"symbol": ["A/BRL"], "open": [120.0]}), Decimal("0.007"), 0)
    states = oms.execute_day(db, day2, AccountBroker(rising, account), GuardContext(db, 10**9, 10**9))
    assert states["status"].to_list() == ["filled"]
    held = ledger_views.positions(db).filter(pl.col("symbol") == "A/BRL")["quantity"][0]
    # by hand: R$25.00 of A at R$100 less the 0.7% fee (17.5c -> 18c) = 0.2482 A bought; 0.24 sold
    assert held == Decimal("0.0082") and account.positions()["A"] == Decimal("0.0082")
    assert run().passed
    assert ledger_views.identity(db).holds
