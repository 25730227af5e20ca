"""Benchmarks count uninvested cash like the strategy: hand-computed cases with idle days."""
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.benchmarks import all_benchmarks, btc_only, cdi_dca, lump_sum, top_n_dca, top_n_weights

D0 = date(2021, 1, 1)  # January: R$31/month -> R$1.00 a day
FEE = Decimal("0.01")


def _bars(closes: dict[str, dict[int, float]]) -> pl.DataFrame:
    rows = [{"symbol": s, "date": D0 + timedelta(days=i), "close": c} for s, series in closes.items() for i, c in series.items()]
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64})


def test_btc_only_dca_with_idle_cash_matches_a_hand_loop() -> None:
    # BTC listed from day 2, no bar on day 4, data ends on day 6; the window runs to day 8
    btc = {2: 100.0, 3: 200.0, 5: 50.0, 6: 100.0}
    out = btc_only(_bars({"BTC/BRL": btc}), D0, D0 + timedelta(days=8), 3100, FEE)
    # by hand, R$1/day, 1% fee, buying everything waiting whenever there is a close:
    # d0 cash 1 | d1 cash 2 | d2 buy 3*0.99/100 = 0.0297 BTC -> 2.97 | d3 buy 0.99/200 = 0.00495 -> 0.03465*200 = 6.93
    # d4 no bar: cash 1, BTC at last close 200 -> 6.93 + 1 = 7.93 | d5 buy 2*0.99/50 = 0.0396 -> 0.07425*50 = 3.7125
    # d6 buy 0.99/100 = 0.0099 -> 0.08415*100 = 8.415 | d7 cash 1 -> 9.415 | d8 cash 2 -> 10.415
    expected = ["1.00", "2.00", "2.97", "6.93", "7.93", "3.71", "8.42", "9.42", "10.42"]
    assert [str(v) for v in out["value_brl"]] == expected
    assert [str(v) for v in out["cash_brl"]] == ["1.00", "2.00", "0.00", "0.00", "1.00", "0.00", "0.00", "1.00", "2.00"]
    assert out["invested_brl"][-1] == Decimal("9.00")


def test_lump_sum_waits_for_the_first_close_and_keeps_cash_without_one() -> None:
    out = lump_sum(_bars({"BTC/BRL": {2: 100.0, 3: 150.0}}), "BTC/BRL", D0, D0 + timedelta(days=3), 3100, FEE)
    # R$4 total: cash until day 2, then 4 * 0.99 / 100 = 0.0396 BTC -> 3.96, 5.94
    assert [str(v) for v in out["value_brl"]] == ["4.00", "4.00", "3.96", "5.94"]
    none = lump_sum(_bars({"ETH/BRL": {0: 1.0}}), "BTC/BRL", D0, D0 + timedelta(days=1), 3100, FEE)
    assert [str(v) for v in none["value_brl"]] == ["2.00", "2.00"]  # no BTC at all: the money stays cash


def test_cdi_account_compounds_each_business_day() -> None:
    cdi = pl.DataFrame({"date": [D0, D0 + timedelta(days=3)], "cdi_pct": [1.0, 10.0]})  # Fri 1%, Mon 10% (exaggerated)
    out = cdi_dca(cdi, D0, D0 + timedelta(days=3), 3100, 0.0)
    # d0: 0*1.01 + 1 = 1 | Sat: 2 | Sun: 3 | Mon: 3 * 1.10 + 1 = 4.30
    assert [str(v) for v in out["value_brl"]] == ["1.00", "2.00", "3.00", "4.30"]


SNAP = pl.DataFrame({
    "snapshot_date": [date(2020, 12, 1)] * 4 + [date(2021, 2, 1)] * 2,
    "rank": [1, 2, 3, 4, 1, 2],
    "base": ["BTC", "USDT", "ETH", "XRP", "BTC", "ETH"],
    "market_cap_usd": [600.0, 100.0, 200.0, 100.0, 700.0, 300.0],
})


def test_top_n_is_point_in_time_cap_weighted_without_excluded_or_unpriced_members() -> None:
    bars = _bars({"BTC/BRL": {-1: 10.0}, "ETH/BRL": {-1: 1.0}})  # XRP has no bar on the eve: left out
    w = top_n_weights(SNAP, bars, date(2021, 1, 1), ("USDT",), n=3)
    assert w == pytest.approx({"BTC/BRL": 0.75, "ETH/BRL": 0.25})  # 600 / 800, 200 / 800 (XRP unpriced)
    assert top_n_weights(SNAP, bars, date(2021, 1, 1), ("USDT",), n=3, weighting="equal") == pytest.approx({"BTC/BRL": 0.5, "ETH/BRL": 0.5})
    assert top_n_weights(SNAP, bars, date(2020, 11, 1), ()) == {}  # no snapshot yet: the slices stay cash


def test_top_n_dca_and_all_benchmarks_frame() -> None:
    bars = _bars({"BTC/BRL": {i: 100.0 for i in range(-1, 2)}, "ETH/BRL": {i: 10.0 for i in range(-1, 2)}})
    out = top_n_dca(bars, SNAP, D0, D0 + timedelta(days=1), 3100, Decimal(0), ("USDT",), n=2)
    # top 2 without USDT by rank: BTC (600) and ETH (200): R$0.75 and R$0.25 a day at constant prices
    assert [str(v) for v in out["value_brl"]] == ["1.00", "2.00"]
    ibov = pl.DataFrame({"date": [D0], "close": [100.0]})
    targets = pl.DataFrame({"month": [D0], "symbol": ["ETH/BRL"], "weight": [0.5]})
    frame = all_benchmarks(bars, targets, D0, D0 + timedelta(days=1), 3100, Decimal(0), ibovespa=ibov, snapshots=SNAP,
                           excluded_bases=("USDT",))
    assert frame.columns == ["date", "invested_brl", "btc_dca_brl", "top20_dca_brl", "equal_weight_dca_brl",
                             "ibovespa_dca_brl", "cdi_brl", "btc_lump_sum_brl"]
    assert [str(v) for v in frame["cdi_brl"]] == ["1.00", "2.00"]  # no CDI series: fallback 10.75%/yr, < 1 centavo
