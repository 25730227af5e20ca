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


def test_reconciliation_asset_check_fails_on_a_difference() -> None:
    from dagster import materialize

    from dca_pipeline.execution import projection
    from dca_pipeline.execution.assets import ledger_matches_broker, reconciliation
    from dca_pipeline.execution.guards import GuardContext
    from dca_pipeline.execution.resources import Broker
    from dca_pipeline.resources import PipelineConfig
    from dca_pipeline.storage import duck
    from dca_pipeline_tests.execution.test_oms import CountingBroker

    db = warehouse_path()
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    orders = plan_dca_orders(D, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), prices, 5_000, 1_000)
    oms.record_plan(db, D, 5_000, orders)
    oms.execute_day(db, D, CountingBroker(), GuardContext(db, 10**9, 10**9))
    projection.project_day(db, D)
    resources = {"warehouse": Warehouse(), "config": PipelineConfig(), "broker": Broker(mode="paper")}

    def run():  # noqa: ANN202
        duck.close_all()
        r = materialize([reconciliation, ledger_matches_broker], partition_key=str(D), resources=resources, raise_on_error=False)
        return r.get_asset_check_evaluations()[0]

    assert run().passed
    with duck.transaction(db) as cur:  # the broker's side loses a fill
        cur.execute("delete from execution.fills where symbol = 'B/BRL'")
    check = run()
    assert not check.passed and check.metadata["differences"].value == 1
    assert "position B" in check.metadata["differences_table"].value
