"""Rebalancing triggers and the cash-first DCA trade list, checked against hand-computed values."""
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dca_pipeline.portfolio.rebalance import (
    average_correlation,
    calendar_trigger,
    correlation_trigger,
    drift_trigger,
    rebalance_trades,
    split_centavos,
    volatility_trigger,
)


def _frames(targets: dict, quantities: dict, prices: dict) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (
        pl.DataFrame({"symbol": list(targets), "weight": list(targets.values())}),
        pl.DataFrame({"symbol": list(quantities), "quantity": [Decimal(str(q)) for q in quantities.values()]},
                     schema={"symbol": pl.String, "quantity": pl.Decimal(20, 8)}),
        pl.DataFrame({"symbol": list(prices), "close": list(prices.values())}),
    )


def test_drift_trigger_uses_relative_threshold() -> None:
    assert not drift_trigger({"A": 0.4, "B": 0.6}, {"A": 0.49, "B": 0.51}).fired  # 0.09 < 0.25 × 0.4 = 0.10
    t = drift_trigger({"A": 0.4, "B": 0.6}, {"A": 0.51, "B": 0.49})  # 0.11 > 0.10; B: 0.11 < 0.15
    assert t.fired and t.reason.endswith(": A")
    assert drift_trigger({"A": 1.0}, {"A": 0.9, "X": 0.1}).reason.endswith(": X")  # a non-target held


def test_calendar_and_volatility_triggers() -> None:
    assert calendar_trigger(date(2024, 3, 1), None).fired
    assert not calendar_trigger(date(2024, 3, 31), date(2024, 3, 1)).fired
    assert calendar_trigger(date(2024, 4, 1), date(2024, 3, 31)).fired
    assert not calendar_trigger(date(2024, 4, 1), date(2024, 3, 1), every_months=2).fired
    calm, stormy = 0.5, 1.5
    assert not volatility_trigger(date(2024, 3, 20), date(2024, 3, 1), calm).fired
    assert volatility_trigger(date(2024, 3, 8), date(2024, 3, 1), stormy, high_vol=1.0, high_vol_days=7).fired
    assert not volatility_trigger(date(2024, 3, 7), date(2024, 3, 1), stormy, high_vol=1.0, high_vol_days=7).fired


def test_correlation_trigger_fires_on_a_spike() -> None:
    rng = np.random.default_rng(3)
    calm = rng.normal(0, 0.02, (200, 5))  # independent: correlation ≈ 0
    common = rng.normal(0, 0.04, (30, 1))
    crash = common + rng.normal(0, 0.005, (30, 5))  # one factor: correlation ≈ 0.98
    assert abs(average_correlation(calm)) < 0.1
    assert average_correlation(crash) > 0.9
    assert correlation_trigger(np.vstack([calm, crash]), recent_days=30, spike=0.2).fired
    assert not correlation_trigger(np.vstack([calm, calm[:30]]), recent_days=30, spike=0.2).fired


def test_average_correlation_by_hand() -> None:
    x = np.array([[1.0, 2.0, -1.0], [2.0, 4.0, -2.0], [3.0, 6.0, -3.5], [4.0, 8.0, -4.0]])
    c = np.corrcoef(x, rowvar=False)
    assert average_correlation(x) == pytest.approx((c[0, 1] + c[0, 2] + c[1, 2]) / 3)


def test_new_cash_buys_underweights_first_without_sells() -> None:
    # holdings A = 1 × 600.00 = 60000 c, B = 2 × 100.00 = 20000 c; cash 0 + budget 20000 → V = 100000
    t, h, p = _frames({"A": 0.5, "B": 0.5}, {"A": 1, "B": 2}, {"A": 600.0, "B": 100.0})
    trades = rebalance_trades(t, h, p, 0, 20_000, allow_sells=False)
    # B's gap 50000 − 20000 = 30000 > the 20000 of cash: all of it to B, no sell of A
    assert trades.to_dicts() == [{"symbol": "B", "side": "buy", "amount_centavos": 20_000, "reason": "underweight: new cash"}]


def test_sells_only_when_allowed_and_cash_is_not_enough() -> None:
    t, h, p = _frames({"A": 0.5, "B": 0.5}, {"A": 1, "B": 2}, {"A": 600.0, "B": 100.0})
    trades = rebalance_trades(t, h, p, 0, 20_000, allow_sells=True)
    rows = {(r["symbol"], r["side"], r["reason"]): r["amount_centavos"] for r in trades.to_dicts()}
    assert rows == {
        ("B", "buy", "underweight: new cash"): 20_000,
        ("A", "sell", "overweight: drift beyond the month's cash"): 10_000,  # 60000 − 50000
        ("B", "buy", "underweight: sale proceeds"): 10_000,
    }
    # enough cash: no sells even when allowed
    enough = rebalance_trades(t, h, p, 0, 60_000, allow_sells=True)  # V = 140000: A gap 10000, B gap 50000
    assert set(enough["side"]) == {"buy"} and enough["amount_centavos"].sum() == 60_000


def test_non_target_holding_is_sold_only_with_allow_sells() -> None:
    t, h, p = _frames({"A": 1.0}, {"A": 1, "X": 3}, {"A": 100.0, "X": 50.0})  # A 10000, X 15000; budget 5000
    assert rebalance_trades(t, h, p, 0, 5_000).to_dicts() == [
        {"symbol": "A", "side": "buy", "amount_centavos": 5_000, "reason": "underweight: new cash"}
    ]
    sold = rebalance_trades(t, h, p, 0, 5_000, allow_sells=True)
    assert sold.filter(pl.col("side") == "sell").to_dicts() == [
        {"symbol": "X", "side": "sell", "amount_centavos": 15_000, "reason": "not a target: drift beyond the month's cash"}
    ]


def test_bad_input_is_named() -> None:
    t, h, p = _frames({"A": 1.0}, {"Z": 1}, {"A": 1.0})
    with pytest.raises(ValueError, match="no price for held symbol"):
        rebalance_trades(t, h, p, 0, 100)
    with pytest.raises(ValueError, match="targets lacks column"):
        rebalance_trades(t.drop("weight"), h, p, 0, 100)


@settings(max_examples=60, deadline=None)
@given(
    w=st.lists(st.integers(1, 100), min_size=1, max_size=6),
    q=st.lists(st.integers(0, 50), min_size=6, max_size=6),
    budget=st.integers(0, 10_000_000),
    cash=st.integers(0, 100_000),
    allow=st.booleans(),
)
def test_trades_never_spend_more_than_cash_plus_proceeds(w: list, q: list, budget: int, cash: int, allow: bool) -> None:
    symbols = [f"S{i}" for i in range(len(w))]
    targets = {s: x / sum(w) for s, x in zip(symbols, w)}
    t, h, p = _frames(targets, dict(zip(symbols, q)), {s: 10.0 + i for i, s in enumerate(symbols)})
    trades = rebalance_trades(t, h, p, cash, budget, allow_sells=allow)
    buys = int(trades.filter(pl.col("side") == "buy")["amount_centavos"].sum())
    sells = int(trades.filter(pl.col("side") == "sell")["amount_centavos"].sum())
    assert buys <= cash + budget + sells
    assert (trades["amount_centavos"] > 0).all()
    if not allow:
        assert sells == 0
    assert trades.select("symbol", "side", "reason").is_unique().all()


def test_split_centavos_is_exact() -> None:
    assert split_centavos(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert sum(split_centavos(999_999, {"a": 7, "b": 3, "c": 11}).values()) == 999_999


def test_rebalance_due_combines_the_configured_triggers() -> None:
    from dca_pipeline.config import RebalanceSettings
    from dca_pipeline.portfolio.rebalance import rebalance_due

    cfg = RebalanceSettings()
    on_target = {"A": 0.5, "B": 0.5}
    assert rebalance_due(cfg, date(2024, 3, 15), date(2024, 3, 1), on_target, on_target) == []
    fired = rebalance_due(cfg, date(2024, 4, 1), date(2024, 3, 1), on_target, {"A": 0.7, "B": 0.3})
    assert [t.reason.split(":")[0] for t in fired] == ["drift > 25% of target", "1 month(s) since 2024-03-01"]
    stormy = rebalance_due(cfg, date(2024, 3, 9), date(2024, 3, 1), on_target, on_target, market_volatility=1.4)
    assert len(stormy) == 1 and stormy[0].reason.startswith("high volatility")
