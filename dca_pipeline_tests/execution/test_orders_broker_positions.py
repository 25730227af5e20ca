"""DCA order planning, paper fills and position valuation, checked by hand."""
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.execution.paper_fill import paper_fills
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.execution.positions import value_positions

DAY = date(2021, 1, 5)
TARGETS = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "C/BRL"], "weight": [0.5, 0.3, 0.2]})
PRICES = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "C/BRL"], "close": [100.0, 10.0, 1.0]})
ALL_A = pl.DataFrame({"symbol": ["A/BRL"], "weight": [1.0]})
ONE_A = pl.DataFrame({"symbol": ["A/BRL"], "quantity": [Decimal(1)]})


def _plan(cash: int, holdings: pl.DataFrame = ONE_A, targets: pl.DataFrame = TARGETS) -> dict[str, int]:
    orders = plan_dca_orders(DAY, targets, holdings, PRICES, cash, 1000)
    return dict(zip(orders["symbol"], orders["amount_centavos"]))


def test_most_underweight_first() -> None:
    # value 100 + cash 100 = 200: A wants 100 (has 100), B wants 60, C wants 40
    assert _plan(10_000) == {"B/BRL": 6000, "C/BRL": 4000}
    # cash 25: T = 125, deficits B 37.5, C 25 -> all of it to B
    assert _plan(2_500) == {"B/BRL": 2500}


def test_never_below_minimum_and_leftover_carried() -> None:
    assert _plan(900) == {}  # R$9 < R$10 minimum: nothing, carried forward
    both = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "quantity": [Decimal(1), Decimal(10)]})
    half = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    # value 200 + cash 12 = 212, each deficit R$6 < minimum: buy A for the minimum R$10, keep R$2
    assert _plan(1_200, both, half) == {"A/BRL": 1000}


def test_orders_never_exceed_cash_and_ids_are_deterministic() -> None:
    orders = plan_dca_orders(DAY, TARGETS, ONE_A.clear(), PRICES, 3_225, 1000)
    assert orders["amount_centavos"].sum() <= 3_225
    assert (orders["amount_centavos"] >= 1000).all()
    assert orders["client_order_id"].to_list()[0] == "dca-20210105-A-BRL-buy"
    assert orders.equals(plan_dca_orders(DAY, TARGETS, ONE_A.clear(), PRICES, 3_225, 1000))


def test_paper_fill_by_hand() -> None:
    orders = plan_dca_orders(DAY, ALL_A, ONE_A.clear(), PRICES, 3_225, 1000)
    nxt = pl.DataFrame({"symbol": ["A/BRL"], "open": [100.0]})
    fills, status = paper_fills(orders, nxt, Decimal("0.007"), 10)
    f = fills.row(0, named=True)
    assert f["price_brl"] == pytest.approx(100.1)  # open + 10 bps slippage
    assert f["fee_centavos"] == 23  # 0.7% of R$32.25 = 22.575 -> 23
    assert f["notional_centavos"] == 3202
    assert f["quantity"] == Decimal("0.31988011")  # 32.02 / 100.1 rounded down to 1e-8
    assert str(f["filled_at"]) == "2021-01-06 00:00:00+00:00"
    assert status == {"dca-20210105-A-BRL-buy": "filled"}


def test_order_without_next_bar_expires() -> None:
    orders = plan_dca_orders(DAY, ALL_A, ONE_A.clear(), PRICES, 3_225, 1000)
    fills, status = paper_fills(orders, pl.DataFrame({"symbol": [], "open": []}, schema={"symbol": pl.String, "open": pl.Float64}), Decimal("0.007"), 10)
    assert fills.is_empty() and list(status.values()) == ["expired"]


def test_position_value_and_average_cost() -> None:
    holdings = pl.DataFrame({"symbol": ["A/BRL"], "quantity": [Decimal("0.5")], "cost_centavos": [4_000]})
    prices = pl.DataFrame({"symbol": ["A/BRL"], "close": [100.005], "date": [DAY]})
    pos = value_positions(DAY, holdings, prices).row(0, named=True)
    assert pos["market_value_brl"] == Decimal("50.00")  # 50.0025 -> half-even
    assert pos["avg_cost_brl"] == pytest.approx(80.0)
    assert pos["cost_basis_brl"] == Decimal("40.00")


def test_held_symbol_without_price_is_an_error() -> None:
    holdings = pl.DataFrame({"symbol": ["Z/BRL"], "quantity": [Decimal(1)], "cost_centavos": [100]})
    with pytest.raises(ValueError, match="Z/BRL"):
        value_positions(DAY, holdings, pl.DataFrame(schema={"symbol": pl.String, "close": pl.Float64, "date": pl.Date}))
