"""USD/BRL forward fill, USD→BRL conversion and the quarantine rules, on hand-made frames."""
from datetime import date

import polars as pl
import pytest

from dca_pipeline.ingestion.fx import daily_fx, usd_bars_to_brl
from dca_pipeline.ingestion.row_rules import duplicate_keys, missing_symbol_days, ohlc_violations, split_valid_ohlcv


def test_weekend_uses_friday_rate() -> None:
    published = pl.DataFrame(
        {"date": [date(2021, 1, 8), date(2021, 1, 11)], "usd_brl": [5.40, 5.50], "source": ["x", "x"]}
    )
    fx = daily_fx(published, date(2021, 1, 8), date(2021, 1, 11))
    assert fx["usd_brl"].to_list() == [5.40, 5.40, 5.40, 5.50]
    assert fx["is_filled"].to_list() == [False, True, True, False]
    assert fx["rate_date"][2] == date(2021, 1, 8)


def test_no_rate_before_first_publication_is_an_error() -> None:
    published = pl.DataFrame({"date": [date(2021, 1, 8)], "usd_brl": [5.4], "source": ["x"]})
    with pytest.raises(ValueError, match="2021-01-07"):
        daily_fx(published, date(2021, 1, 7), date(2021, 1, 8))


def test_usd_bars_become_brl_contract() -> None:
    bars = pl.DataFrame(
        {"base": ["BTC"], "date": [date(2021, 1, 9)], "open": [10.0], "high": [12.0], "low": [9.0], "close": [11.0], "volume_usd": [110.0]}
    )
    fx = pl.DataFrame({"date": [date(2021, 1, 9)], "usd_brl": [5.0]})
    out = usd_bars_to_brl(bars, fx)
    row = out.row(0, named=True)
    assert row["symbol"] == "BTC/BRL"
    assert (row["open"], row["high"], row["low"], row["close"]) == (50.0, 60.0, 45.0, 55.0)
    assert row["volume"] == pytest.approx(10.0)  # base units = USD volume / USD close
    assert row["volume_brl"] == pytest.approx(550.0)


def _bars(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume"], orient="row")


def test_bad_rows_are_quarantined_with_reason() -> None:
    d = date(2021, 1, 1)
    frame = _bars(
        [
            ("A/BRL", d, 10.0, 11.0, 9.0, 10.5, 5.0),  # fine
            ("B/BRL", d, 10.0, 9.5, 9.0, 9.2, 5.0),  # high below open
            ("C/BRL", d, 10.0, 11.0, 10.2, 10.5, 5.0),  # low above open
            ("D/BRL", d, 0.0, 0.0, 0.0, 0.0, 5.0),  # zero prices (SHIB at float precision)
            ("E/BRL", d, 10.0, 11.0, 9.0, 10.5, -1.0),  # negative volume
            ("A/BRL", d, 10.0, 11.0, 9.0, 10.5, 5.0),  # duplicate key
            ("F/BRL", d, None, 11.0, 9.0, 10.5, 5.0),  # missing price
            ("G/BRL", d, 10.0, 11.0, 9.0, 10.5, None),  # missing volume
        ]
    )
    valid, quarantined = split_valid_ohlcv(frame)
    assert valid["symbol"].to_list() == ["A/BRL"]
    reasons = dict(zip(quarantined["symbol"], quarantined["reason"]))
    assert reasons == {
        "B/BRL": "high below open/close",
        "C/BRL": "low above open/close",
        "D/BRL": "non-positive price",
        "E/BRL": "negative volume",
        "A/BRL": "duplicate key",
        "F/BRL": "missing price",
        "G/BRL": "missing volume",
    }
    assert len(valid) + len(quarantined) == len(frame)  # nothing is lost
    assert len(ohlc_violations(frame.drop_nulls())) == 4
    assert duplicate_keys(frame).to_dicts() == [{"symbol": "A/BRL", "date": d, "len": 2}]


def test_missing_symbol_days() -> None:
    d1, d2 = date(2021, 1, 1), date(2021, 1, 2)
    got = _bars([("A/BRL", d1, 1.0, 1.0, 1.0, 1.0, 1.0)])
    expected = pl.DataFrame({"symbol": ["A/BRL", "A/BRL"], "date": [d1, d2]})
    assert missing_symbol_days(got, expected).to_dicts() == [{"symbol": "A/BRL", "date": d2}]
