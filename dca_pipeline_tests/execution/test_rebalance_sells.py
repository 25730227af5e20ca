"""Rebalance sells: only when allowed, on the month's first day, when new cash cannot close the drift."""
from datetime import date
from decimal import Decimal

import polars as pl

from dca_pipeline.execution.orders import plan_rebalance_sells

TARGETS = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
PRICES = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 10.0]})


def _holdings(a: str, b: str) -> pl.DataFrame:
    return pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "quantity": [Decimal(a), Decimal(b)]}, schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)})


def test_sells_the_overweight_when_the_month_cash_cannot_close_the_gap() -> None:
    # A worth R$9,000, B R$100, R$1,000 of new cash: targets R$5,050 each; cash closes only part of B's gap
    orders, why = plan_rebalance_sells(date(2021, 3, 1), TARGETS, _holdings("90", "10"), PRICES, 0, 100_000, 0.25, 1000)
    assert "A/BRL" in why and orders["side"].to_list() == ["sell"] and orders["symbol"].to_list() == ["A/BRL"]
    sold = orders.row(0, named=True)
    # by hand: V = 9,000 + 100 + 1,000 = 10,100; A must go to 5,050: sell R$3,950 = 39.5 coins
    assert sold["quantity"] == Decimal("39.5") and sold["amount_centavos"] == 395_000
    assert sold["client_order_id"].endswith("-sell")


def test_no_sell_when_cash_suffices_or_not_the_first_day() -> None:
    small_drift, why = plan_rebalance_sells(date(2021, 3, 1), TARGETS, _holdings("7", "30"), PRICES, 0, 100_000, 0.25, 1000)
    assert small_drift.is_empty() and "cash closes the gaps" in why  # A R$700 vs B R$300 drifted, but R$1,000 of cash buys B up
    mid_month, why = plan_rebalance_sells(date(2021, 3, 2), TARGETS, _holdings("90", "10"), PRICES, 0, 100_000, 0.25, 1000)
    assert mid_month.is_empty() and "first day" in why
