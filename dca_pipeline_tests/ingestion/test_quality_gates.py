"""Completeness and gap filling, staleness, cross-source prices, anomalies and listings on hand-made frames."""
import math
from datetime import date, datetime, timedelta, timezone

import polars as pl

from dca_pipeline.ingestion.listings import build_listings
from dca_pipeline.ingestion.dataset_rules import (
    crossed_books, cross_source_deviations, expected_bars, fill_gaps, find_gaps, reference_prices_brl,
    return_outliers, split_valid_trades, stale_symbols, volume_spikes,
)

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _hours(symbol: str, hours: list[int], close: float = 10.0) -> pl.DataFrame:
    return pl.DataFrame({
        "symbol": [symbol] * len(hours), "ts": [T0 + timedelta(hours=h) for h in hours],
        "open": [close] * len(hours), "high": [close + 1] * len(hours), "low": [close - 1] * len(hours),
        "close": [close + h for h in hours], "volume": [2.0] * len(hours), "volume_brl": [20.0] * len(hours),
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_expected_calendar_respects_listing_dates_and_open_bars() -> None:
    symbols = pl.DataFrame({"symbol": ["A", "B"], "listed_from": [None, T0 + timedelta(hours=20)]},
                           schema={"symbol": pl.String, "listed_from": pl.Datetime("us", "UTC")})
    grid = expected_bars(symbols, T0, T0 + timedelta(days=1), "1h")
    assert grid.group_by("symbol").len().sort("symbol").rows() == [("A", 24), ("B", 4)]
    # at 05:30 only the bars that opened at 00:00 .. 04:00 have closed
    partial = expected_bars(symbols.head(1), T0, T0 + timedelta(days=1), "1h", now=T0 + timedelta(hours=5, minutes=30))
    assert partial["ts"].to_list() == [T0 + timedelta(hours=h) for h in range(5)]


def test_short_gaps_are_filled_with_the_last_close_and_flagged() -> None:
    have = [h for h in range(24) if h not in (3, 4, 10, 11, 12)]
    bars = pl.concat([_hours("A", have), _hours("B", list(range(1, 24)))])
    expected = expected_bars(pl.DataFrame({"symbol": ["A", "B"]}), T0, T0 + timedelta(days=1), "1h")
    assert len(find_gaps(bars, expected)) == 6
    out, unfilled = fill_gaps(bars, expected, max_fill_bars=2, previous_close=pl.DataFrame({"symbol": ["B"], "close": [7.5]}))
    filled = out.filter(pl.col("filled"))
    # A: hours 3-4 (a 2-bar gap) filled at hour 2's close; hours 10-12 (3 bars) stay missing; B: hour 0 from the previous day
    assert filled.select("symbol", "ts", "open", "high", "low", "close", "volume").rows() == [
        ("A", T0 + timedelta(hours=3), 12.0, 12.0, 12.0, 12.0, 0.0),
        ("A", T0 + timedelta(hours=4), 12.0, 12.0, 12.0, 12.0, 0.0),
        ("B", T0, 7.5, 7.5, 7.5, 7.5, 0.0),
    ]
    assert unfilled.rows() == [("A", T0 + timedelta(hours=h)) for h in (10, 11, 12)]
    real = out.filter(~pl.col("filled")).drop("filled")
    assert real.sort("symbol", "ts").equals(bars.sort("symbol", "ts"))  # real bars untouched


def test_stale_symbols_by_last_bar_age() -> None:
    bars = pl.concat([_hours("A", list(range(24))), _hours("B", list(range(19)))])  # B's last bar 18:00, closed 19:00
    stale = stale_symbols(bars, ["A", "B", "C"], T0 + timedelta(days=1), "1h", max_bars=3)
    assert stale["symbol"].to_list() == ["B", "C"]
    assert stale.filter(pl.col("symbol") == "B")["age_seconds"].item() == 5 * 3600
    assert stale.filter(pl.col("symbol") == "C")["last_ts"].item() is None


def test_cross_source_flags_only_deviations_beyond_tolerance() -> None:
    d = date(2024, 5, 1)
    usd = pl.DataFrame({"symbol": ["A", "B"], "date": [d, d], "price_usd": [2.0, 10.0]})
    fx = pl.DataFrame({"date": [d], "usd_brl": [5.0]})
    reference = reference_prices_brl(usd, fx)
    assert reference.sort("symbol")["price_brl"].to_list() == [10.0, 50.0]
    bars = pl.DataFrame({"symbol": ["A", "B"], "date": [d, d], "close": [10.4, 60.0]})
    bad = cross_source_deviations(bars, reference, tolerance=0.05)
    assert bad["symbol"].to_list() == ["B"] and abs(bad["deviation"].item() - 0.2) < 1e-12


def test_robust_return_outlier_and_volume_spike() -> None:
    closes = [100.0 * math.exp(0.01 * math.sin(i)) for i in range(48)]  # returns within ±1%
    closes[30] = closes[29] * 3  # a jump and a fall back
    frame = pl.DataFrame({"symbol": ["A"] * 48, "ts": [T0 + timedelta(hours=i) for i in range(48)], "close": closes,
                          "volume": [1.0 + (i % 3) for i in range(48)]})
    frame = frame.with_columns(pl.when(pl.col("ts") == T0 + timedelta(hours=30)).then(500.0).otherwise(pl.col("volume")).alias("volume"))
    out = return_outliers(frame, "ts", threshold=10)
    assert out["ts"].to_list() == [T0 + timedelta(hours=30), T0 + timedelta(hours=31)]
    spikes = volume_spikes(frame, "ts", factor=20)
    assert spikes["ts"].to_list() == [T0 + timedelta(hours=30)] and spikes["ratio"].item() == 250.0


def test_trades_and_books_rules() -> None:
    trades = pl.DataFrame({"symbol": ["A"] * 4, "ts": [T0] * 4, "trade_id": ["1", "1", "2", "3"],
                           "side": ["buy", "buy", "hold", "sell"], "price": [1.0, 1.0, 1.0, -1.0], "amount": [1.0] * 4})
    valid, bad = split_valid_trades(trades)
    assert valid["trade_id"].to_list() == ["1"] and bad["reason"].to_list() == ["duplicate key", "unknown side", "bad price"]
    book = pl.DataFrame({"symbol": ["A", "A", "B", "B"], "ts": [T0] * 4, "side": ["bid", "ask"] * 2, "level": [1] * 4,
                         "price": [10.0, 10.5, 11.0, 10.9], "amount": [1.0] * 4})
    assert crossed_books(book)["symbol"].to_list() == ["B"]


def test_listings_record_delisting_dates_and_keep_history() -> None:
    spans = pl.DataFrame({"symbol": ["A", "B", "C"], "first_bar": [date(2020, 1, 1), date(2021, 1, 1), date(2020, 6, 1)],
                          "last_bar": [date(2022, 2, 14), date(2021, 9, 30), date(2022, 2, 10)]})
    no_markets = build_listings(spans, None, data_end=date(2022, 2, 14), grace_days=7)
    assert no_markets.select("symbol", "delisted_on", "active").rows() == [
        ("A", None, True), ("B", date(2021, 10, 1), False), ("C", None, True),
    ]
    markets = pl.DataFrame({"symbol": ["A", "D"], "listed_from": [datetime(2019, 5, 1, tzinfo=timezone.utc), datetime(2022, 2, 14, tzinfo=timezone.utc)]})
    with_markets = build_listings(spans, markets, data_end=date(2022, 2, 14), grace_days=7)
    assert with_markets.select("symbol", "first_seen", "last_seen", "delisted_on").rows() == [
        ("A", date(2019, 5, 1), date(2022, 2, 14), None),
        ("B", date(2021, 1, 1), date(2021, 9, 30), date(2021, 10, 1)),
        ("C", date(2020, 6, 1), date(2022, 2, 10), date(2022, 2, 11)),  # no longer in the market list
        ("D", date(2022, 2, 14), None, None),  # listed, no bar yet
    ]
