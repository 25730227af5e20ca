"""Winsorizing, calendar alignment and USD→BRL delegation, checked by hand."""
from datetime import date, datetime

import polars as pl
import pytest

from dca_pipeline.analytics.transforms import align_daily, usd_to_brl, winsorize
from dca_pipeline.ingestion.fx import usd_bars_to_brl


def _values() -> pl.DataFrame:
    # A: 0..99 (100 values); B: 10, 20, 30 plus a null and a NaN
    return pl.DataFrame(
        {
            "symbol": ["A"] * 100 + ["B"] * 5,
            "x": [float(i) for i in range(100)] + [10.0, None, 20.0, float("nan"), 30.0],
        }
    )


def test_winsorize_per_symbol_by_hand() -> None:
    out, n = winsorize(_values(), "x", 0.01, 0.99)
    # A: q01 at position 99·0.01 = 0.99 → 0.99; q99 at position 98.01 → 98.01: clips 0 and 99
    # B (10, 20, 30): q01 at position 0.02 → 10.2; q99 at position 1.98 → 29.8: clips 10 and 30
    assert n == 4
    a = out.filter(symbol="A")["x"]
    assert (a[0], a[1], a[98], a[99]) == (pytest.approx(0.99), 1.0, 98.0, pytest.approx(98.01))
    b = out.filter(symbol="B")["x"].to_list()
    assert b[0] == pytest.approx(10.2) and b[2] == 20.0 and b[4] == pytest.approx(29.8)
    assert b[1] is None and b[3] != b[3]  # null and NaN left alone, not counted
    assert out.height == 105 and out.columns == ["symbol", "x"]  # rows and order kept


def test_winsorize_global_by_hand() -> None:
    out, n = winsorize(_values(), "x", 0.05, 0.95, by=None)
    # 103 valid values: 0..99, 10, 20, 30 → sorted, q05 at position 102·0.05 = 5.1 → sorted[5] = 5,
    # sorted[6] = 6 → 5.1; q95 at position 96.9 → sorted[96] = 93, sorted[97] = 94 → 93.9
    # clipped: 0..5 (6 values) below 5.1, 94..99 (6 values) above 93.9 → 12
    assert n == 12
    assert out["x"][0] == pytest.approx(5.1) and out["x"][99] == pytest.approx(93.9)
    assert out["x"][50] == 50.0


def test_winsorize_edges() -> None:
    empty = pl.DataFrame(schema={"symbol": pl.String, "x": pl.Float64})
    out, n = winsorize(empty, "x")
    assert n == 0 and out.is_empty()
    # one row per group and constant groups: bounds equal the value, nothing clipped
    out, n = winsorize(pl.DataFrame({"symbol": ["A", "B", "B"], "x": [1.0, 5.0, 5.0]}), "x")
    assert n == 0 and out["x"].to_list() == [1.0, 5.0, 5.0]
    # an all-null group has null bounds: kept as is
    out, n = winsorize(pl.DataFrame({"symbol": ["A", "A"], "x": [None, None]}, schema={"symbol": pl.String, "x": pl.Float64}), "x")
    assert n == 0 and out["x"].to_list() == [None, None]
    # integer columns come back as Float64 (the bounds may be fractional)
    out, n = winsorize(pl.DataFrame({"symbol": ["A"] * 3, "x": [0, 5, 10]}), "x", 0.1, 0.9)
    # position 2·0.1 = 0.2 → 1.0; position 1.8 → 9.0
    assert n == 2 and out["x"].to_list() == [1.0, 5.0, 9.0]
    with pytest.raises(ValueError):
        winsorize(_values(), "x", 0.9, 0.1)


def _long() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["B/BRL", "A/BRL", "A/BRL", "B/BRL"],
            "date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 4), date(2024, 1, 3)],
            "close": [2.0, 1.0, 4.0, 3.0],
        }
    )


def test_align_daily_shape_and_gaps() -> None:
    out = align_daily(_long())
    # 1 Jan .. 4 Jan = 4 calendar days; date + 2 symbols, alphabetical
    assert out.shape == (4, 3)
    assert out.columns == ["date", "A/BRL", "B/BRL"]
    assert out["date"].to_list() == [date(2024, 1, d) for d in range(1, 5)]
    assert out["A/BRL"].to_list() == [1.0, None, None, 4.0]  # no forward fill
    assert out["B/BRL"].to_list() == [2.0, None, 3.0, None]


def test_align_daily_explicit_range_and_value() -> None:
    out = align_daily(_long(), start=date(2023, 12, 30), end=date(2024, 1, 3))
    # 30 Dec .. 3 Jan = 5 days; 4 Jan (A's 4.0) is outside and dropped
    assert out.shape == (5, 3)
    assert out["A/BRL"].to_list() == [None, None, 1.0, None, None]
    volume = _long().with_columns(volume=pl.col("close") * 10)
    assert align_daily(volume, value="volume")["B/BRL"].to_list() == [20.0, None, 30.0, None]


def test_align_daily_edges() -> None:
    empty = align_daily(_long().clear())
    assert empty.columns == ["date"] and empty.is_empty()
    only_days = align_daily(_long().clear(), start=date(2024, 1, 1), end=date(2024, 1, 3))
    assert only_days.shape == (3, 1)
    one = align_daily(_long().head(1))
    assert one.shape == (1, 2) and one.row(0) == (date(2024, 1, 1), 2.0)
    # datetimes are truncated to calendar days
    stamped = _long().with_columns(pl.col("date").cast(pl.Datetime) + pl.duration(hours=12))
    assert align_daily(stamped).equals(align_daily(_long()))
    with pytest.raises(ValueError, match="duplicate"):
        align_daily(pl.concat([_long(), _long().head(1)]))


def test_usd_to_brl_delegates() -> None:
    bars = pl.DataFrame(
        {"base": ["BTC"], "date": [date(2021, 1, 9)], "open": [10.0], "high": [12.0], "low": [9.0],
         "close": [11.0], "volume_usd": [110.0]}
    )
    fx = pl.DataFrame({"date": [date(2021, 1, 9)], "usd_brl": [5.0]})
    out = usd_to_brl(bars, fx)
    assert out.equals(usd_bars_to_brl(bars, fx))
    # 11 USD × 5.0 BRL/USD = 55 BRL
    assert out.row(0, named=True)["close"] == 55.0 and out["symbol"].item() == "BTC/BRL"
    with pytest.raises(ValueError, match="no USD/BRL rate"):
        usd_to_brl(bars, fx.with_columns(date=pl.lit(datetime(2021, 1, 10)).cast(pl.Date)))
