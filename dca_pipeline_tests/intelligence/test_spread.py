"""The bid-ask spread term of the liquidity factor (intelligence/spread.py): from stored books, point in time,
neutral and reported for a coin without a book, absent when no book exists. Expected values worked by hand."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from dca_pipeline.config import ScoringWeights
from dca_pipeline.intelligence.scores import score_assets
from dca_pipeline.intelligence.spread import spread_factor, spread_report, stored_books
from dca_pipeline.storage import parquet_store

EVE = date(2024, 4, 30)
AT = datetime(2024, 4, 30, 12, tzinfo=timezone.utc)


def book(symbol: str, ts: datetime, bid: float, ask: float) -> list[dict]:
    """Two levels a side: level 1 is the best price."""
    return [
        {"symbol": symbol, "ts": ts, "side": "bid", "level": 1, "price": bid, "amount": 1.0},
        {"symbol": symbol, "ts": ts, "side": "bid", "level": 2, "price": bid * 0.99, "amount": 2.0},
        {"symbol": symbol, "ts": ts, "side": "ask", "level": 1, "price": ask, "amount": 1.0},
        {"symbol": symbol, "ts": ts, "side": "ask", "level": 2, "price": ask * 1.01, "amount": 2.0},
    ]


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "side": pl.String,
                                      "level": pl.Int64, "price": pl.Float64, "amount": pl.Float64})


BOOKS = frame(
    book("A/BRL", AT - timedelta(hours=2), 99.0, 101.0)        # (101 − 99) / 100 = 0.02
    + book("A/BRL", AT - timedelta(hours=1), 98.0, 102.0)      # 4 / 100 = 0.04
    + book("A/BRL", AT, 99.5, 100.5)                           # 1 / 100 = 0.01 → median 0.02
    + book("A/BRL", AT + timedelta(minutes=5), 101.0, 100.0)   # crossed: skipped
    + book("A/BRL", AT + timedelta(hours=13), 99.99, 100.01)   # 2024-05-01 01:00: after the eve, never used
    + book("A/BRL", AT - timedelta(days=31), 50.0, 150.0)      # older than the 30-day window
    + book("C/BRL", AT, 95.0, 105.0)                           # 10 / 100 = 0.10
)


def test_the_median_relative_spread_of_the_books_up_to_the_eve() -> None:
    out = {r["symbol"]: r for r in spread_factor(BOOKS, EVE, ["A/BRL", "B/BRL", "C/BRL"]).iter_rows(named=True)}
    assert out["A/BRL"]["spread_bps"] == pytest.approx(200.0) and out["A/BRL"]["book_snapshots"] == 3
    assert out["A/BRL"]["tight_spread"] == pytest.approx(-math.log(0.02))
    assert out["A/BRL"]["last_book_ts"] == AT
    assert out["C/BRL"]["spread_bps"] == pytest.approx(1000.0)
    assert out["B/BRL"]["tight_spread"] is None and out["B/BRL"]["book_snapshots"] == 0  # no book: neutral


def test_a_later_book_changes_nothing_for_the_eve() -> None:
    later = frame(book("A/BRL", AT + timedelta(days=1), 99.999, 100.001) + book("B/BRL", AT + timedelta(days=1), 1.0, 1.001))
    a = spread_factor(BOOKS, EVE, ["A/BRL", "B/BRL"])
    b = spread_factor(pl.concat([BOOKS, later]), EVE, ["A/BRL", "B/BRL"])
    assert a.equals(b)


def _factors(spread: bool) -> pl.DataFrame:
    base = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "C/BRL"], "tier": ["small"] * 3,
                         "log_volume_30": [10.0, 11.0, 12.0], "volume_surge": [0.3, 0.0, -0.3]})
    if not spread:
        return base.join(spread_factor(None, EVE, base["symbol"].to_list()), on="symbol")
    return base.join(spread_factor(BOOKS, EVE, base["symbol"].to_list()), on="symbol")


def _z(values: list[float]) -> np.ndarray:
    v = np.array(values)
    return (v - v.mean()) / v.std(ddof=1)


def test_the_spread_joins_the_liquidity_group_and_a_coin_without_a_book_is_neutral() -> None:
    scores = {r["symbol"]: r for r in score_assets(_factors(True), ScoringWeights()).iter_rows(named=True)}
    z_vol, z_surge = _z([10.0, 11.0, 12.0]), _z([0.3, 0.0, -0.3])
    z_spread = dict(zip(["A/BRL", "C/BRL"], _z([-math.log(0.02), -math.log(0.10)])))  # ±0.7071
    z_spread["B/BRL"] = 0.0
    for i, s in enumerate(["A/BRL", "B/BRL", "C/BRL"]):
        assert scores[s]["liquidity_score"] == pytest.approx((z_vol[i] + z_surge[i] + z_spread[s]) / 3)
    assert scores["A/BRL"]["z_tight_spread"] == pytest.approx(1 / math.sqrt(2))
    assert scores["B/BRL"]["factors_missing"] > scores["A/BRL"]["factors_missing"]  # reported per coin


def test_without_any_book_the_term_is_left_out_and_the_score_is_the_one_without_it() -> None:
    scores = {r["symbol"]: r for r in score_assets(_factors(False), ScoringWeights()).iter_rows(named=True)}
    z_vol, z_surge = _z([10.0, 11.0, 12.0]), _z([0.3, 0.0, -0.3])
    for i, s in enumerate(["A/BRL", "B/BRL", "C/BRL"]):
        assert scores[s]["liquidity_score"] == pytest.approx((z_vol[i] + z_surge[i]) / 2)
    assert "z_tight_spread" not in scores["A/BRL"]
    assert spread_report(_factors(False))["spread_term"].startswith("neutral: no order book")
    report = spread_report(_factors(True))
    assert (report["spread_term"], report["spread_coins_with_book"], report["spread_coins_neutral"]) == ("used", 2, 1)
    assert report["spread_neutral_sample"] == "B/BRL"


def test_stored_books_reads_only_partitions_up_to_the_eve() -> None:
    for day, rows in ((EVE, book("A/BRL", AT, 99.0, 101.0)), (EVE + timedelta(days=1), book("A/BRL", AT + timedelta(days=1), 99.9, 100.1))):
        parquet_store.write_partition("order_book", day, frame(rows).with_columns(pl.lit(day).alias("date")))
    stored = stored_books(EVE)
    assert stored["ts"].unique().to_list() == [AT]
    assert spread_factor(stored, EVE, ["A/BRL"])["spread_bps"].item() == pytest.approx(200.0)
