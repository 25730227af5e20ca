"""The replay source serves the bundle: real BRL prices, point-in-time caps, and a reference DCA value."""
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.money import daily_contribution_centavos


def test_bundle_has_40_coins_over_4_years() -> None:
    bars = bundle.ohlcv_usd()
    spans = bars.group_by("base").agg(pl.col("date").min().alias("a"), pl.col("date").max().alias("b"))
    long = spans.filter((pl.col("b") - pl.col("a")) >= pl.duration(days=4 * 365))
    assert len(long) >= 40


def test_brl_close_is_usd_close_times_that_days_rate() -> None:
    src = ReplaySource()
    day = date(2021, 1, 9)  # a Saturday: Friday's rate applies
    bars = src.fetch_ohlcv_1d(day, day)
    usd = bundle.ohlcv_usd().filter((pl.col("base") == "BTC") & (pl.col("date") == day))["close"][0]
    friday = bundle.usd_brl_published().filter(pl.col("date") == date(2021, 1, 8))["usd_brl"][0]
    btc = bars.filter(pl.col("symbol") == "BTC/BRL")["close"][0]
    assert btc == pytest.approx(usd * friday)


def test_market_caps_are_point_in_time() -> None:
    caps = ReplaySource().fetch_market_caps(date(2021, 1, 1))
    assert caps["snapshot_date"].max() <= date(2021, 1, 1)
    assert caps["snapshot_date"].n_unique() == 1


def test_reference_btc_dca_value_on_binance_spot_closes() -> None:
    """R$1000/month split over the month's days, bought at each day's BTC close in BRL with a 0.7% fee,
    2018-01-01 -> 2022-02-13. The bundle serves BTC from Binance spot BTCUSDT from 2017-08-17 (precedence, see
    data/SOURCES.md), so the reference is recomputed in plain Python (csv + Decimal, no project code) from the raw
    shared files binance_yanniedog/BTCUSDT_1d.csv, brazil_fialhoFabio/usd_brl.csv (to 2021-05-18) and
    bcb_ptax_strongylis/ptax.csv (from 2021-05-19), forward-filled: invested R$49,464; 1.25326235 BTC; value
    R$273,994. The same script on Yahoo BTC-USD reproduces domain-notes.md's 1.24822106 BTC / R$273,825."""
    start, end = date(2018, 1, 1), date(2022, 2, 13)
    sources = bundle.ohlcv_usd().filter((pl.col("base") == "BTC") & pl.col("date").is_between(start, end))["source"]
    assert sources.unique().to_list() == ["binance_spot"]
    bars = ReplaySource().fetch_ohlcv_1d(start, end).filter(pl.col("symbol") == "BTC/BRL").sort("date")
    closes = dict(zip(bars["date"].to_list(), bars["close"].to_list()))
    invested, btc = 0, Decimal(0)
    day = start
    while day <= end:
        c = daily_contribution_centavos(100_000, day)
        invested += c
        btc += Decimal(c) / 100 * Decimal("0.993") / Decimal(repr(closes[day]))
        day += timedelta(days=1)
    assert round(invested / 100) == 49_464
    assert float(btc) == pytest.approx(1.25326235, rel=1e-6)
    assert float(btc) * closes[end] == pytest.approx(273_993.68, rel=1e-6)


def test_listed_symbols_cover_the_bundle_span() -> None:
    listed = ReplaySource().listed_symbols(date(2020, 7, 12), date(2020, 7, 14))
    avax = listed.filter(pl.col("symbol") == "AVAX/BRL")["date"].to_list()
    assert avax == [date(2020, 7, 13), date(2020, 7, 14)]  # AVAX starts on 2020-07-13
