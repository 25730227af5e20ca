"""The 2017 → 2025 bundle: one source per coin-day, canonical symbols, a point-in-time universe, CDI, and clear
errors outside the data. Expected values were read by hand from the raw files in the shared data folder
(named in each test) or are published figures; none comes from the build or the code under test."""
from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.errors import DataRangeError
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.ingestion.universe import coverage_for_month, universe_for_month


def _bar(base: str, day: date) -> dict:
    rows = bundle.ohlcv_usd().filter((pl.col("base") == base) & (pl.col("date") == day))
    assert len(rows) == 1, f"{base} {day}: {len(rows)} bars"
    return rows.row(0, named=True)


# --- bars ----------------------------------------------------------------------------------------
def test_one_bar_per_coin_day_and_no_source_flip_flop() -> None:
    bars = bundle.ohlcv_usd()
    assert bars.columns == ["base", "date", "open", "high", "low", "close", "volume", "volume_usd", "source"]
    assert not bars.select("base", "date").is_duplicated().any()  # incl. Bybit's duplicated 2023-02-18 row
    assert set(bars["source"].unique()) == {"binance_spot", "yahoo", "bybit_perp", "binance_spot_1h"}
    runs = bars.sort("base", "date").with_columns(
        (pl.col("source") != pl.col("source").shift(1).over("base")).fill_null(True).cum_sum().over("base").alias("run")
    )
    per_base = runs.group_by("base").agg(pl.col("run").max().alias("runs"), pl.col("source").n_unique().alias("sources"))
    assert per_base.filter(pl.col("runs") != pl.col("sources")).is_empty()  # each source is one contiguous span


def test_spot_before_perp_and_the_range_reaches_2025() -> None:
    assert _bar("BTC", date(2018, 1, 1))["source"] == "binance_spot"  # Binance spot from 2017-08-17
    assert _bar("BTC", date(2017, 8, 16))["source"] == "yahoo"
    assert _bar("BTC", date(2025, 11, 13))["close"] > 0
    assert ReplaySource().data_range() == (date(2014, 9, 17), date(2025, 11, 13))  # Yahoo BTC .. Bybit's last day
    assert _bar("AXS", date(2025, 11, 13))["source"] == "bybit_perp"  # Bybit's last day
    # Bybit ETHUSDT 2023-02-18 (raw file, two identical rows): close 1691.31, turnover 662516099.9341 -> but ETH
    # comes from Binance spot there; Bybit-only coins keep their single row
    assert bundle.ohlcv_usd().filter((pl.col("date") == date(2023, 2, 18)) & (pl.col("source") == "bybit_perp")).height > 100


def test_multiplied_perp_ticker_is_priced_per_coin() -> None:
    """Bybit 1000LUNCUSDT 2023-01-01 (raw): close 0.1501 per 1000 LUNC, volume 64238173 contracts, turnover
    9485280.3187; CoinMarketCap's 2023-01-01 snapshot prints LUNC at $0.00015."""
    lunc = _bar("LUNC", date(2023, 1, 1))
    assert lunc["source"] == "bybit_perp"
    assert lunc["close"] == pytest.approx(0.0001501, rel=1e-12)
    assert lunc["volume"] == pytest.approx(64_238_173_000, rel=1e-12)
    assert lunc["volume_usd"] == pytest.approx(9_485_280.3187, rel=1e-12)
    assert lunc["close"] == pytest.approx(0.00015, rel=0.01)


def test_hourly_closes_become_daily_bars() -> None:
    """Binance FTTUSDT hourly closes on 2022-11-08 (raw): first 22.03, max 22.03, min 4.62, last 5.5;
    LUNAUSDT 2022-04-01 23:00 close 105.9."""
    ftt = _bar("FTT", date(2022, 11, 8))
    assert (ftt["open"], ftt["high"], ftt["low"], ftt["close"], ftt["source"]) == (22.03, 22.03, 4.62, 5.5, "binance_spot_1h")
    assert ftt["volume_usd"] > 0  # CMC 24h-volume estimate (documented), so ingestion does not quarantine it
    assert _bar("LUNA", date(2022, 4, 1))["close"] == 105.9


def test_terra_classic_and_terra_2_never_share_a_series() -> None:
    bars = bundle.ohlcv_usd()
    luna, luna2 = bars.filter(pl.col("base") == "LUNA"), bars.filter(pl.col("base") == "LUNA2")
    assert luna["date"].max() == date(2022, 5, 13)  # last Classic hour 2022-05-13 00:00 (close 5e-05)
    assert _bar("LUNA", date(2022, 5, 13))["close"] == 5e-05
    assert luna2["date"].min() >= date(2022, 5, 28)
    lunc = bars.filter(pl.col("base") == "LUNC")
    assert lunc["date"].min() == date(2022, 9, 9)  # Terra Classic relisted as LUNC
    matic, pol = bars.filter(pl.col("base") == "MATIC"), bars.filter(pl.col("base") == "POL")
    assert matic["date"].max() == date(2024, 9, 3) and pol["date"].min() == date(2024, 9, 4)


def test_symbol_map_has_effective_dates_and_kinds() -> None:
    m = bundle.symbol_map()
    assert set(m["kind"]) <= {"rename", "redenomination", "ticker_alias", "split_identity"}
    row = m.filter((pl.col("source") == "bybit_perp") & (pl.col("source_symbol") == "SHIB1000")).row(0, named=True)
    assert (row["base"], row["price_multiplier"]) == ("SHIB", 0.001)
    rename = m.filter((pl.col("source") == "canonical") & (pl.col("source_symbol") == "LUNA")).row(0, named=True)
    assert (rename["base"], rename["valid_from"], rename["kind"]) == ("LUNC", date(2022, 5, 28), "rename")


# --- universe ------------------------------------------------------------------------------------
def test_universe_snapshots_are_point_in_time_top_200() -> None:
    snaps = bundle.universe_snapshots()
    assert snaps.columns == ["snapshot_date", "rank", "name", "base", "cmc_symbol", "market_cap_usd", "volume_24h_usd", "price_usd", "source"]
    assert not snaps.select("snapshot_date", "base").is_duplicated().any()
    cmc = snaps.filter(pl.col("source") == "cmc_monthly")
    assert cmc["snapshot_date"].n_unique() == 70 and cmc.group_by("snapshot_date").len()["len"].unique().to_list() == [200]
    old = snaps.filter(pl.col("source") == "cmc_mcap_nicolasdd")
    assert old["snapshot_date"].min() <= date(2017, 1, 1) and old["snapshot_date"].max() < date(2020, 1, 1)
    assert old["price_usd"].null_count() == len(old) and old["market_cap_usd"].min() >= 100e6
    luna_2022_05 = snaps.filter((pl.col("snapshot_date") == date(2022, 5, 1)) & (pl.col("cmc_symbol") == "LUNA"))
    luna_2022_06 = snaps.filter((pl.col("snapshot_date") == date(2022, 6, 1)) & (pl.col("cmc_symbol") == "LUNA"))
    assert luna_2022_05["base"].to_list() == ["LUNA"] and luna_2022_05["rank"].to_list() == [8]
    assert luna_2022_06["base"].to_list() in ([], ["LUNA2"])


def test_luna_in_april_2022_and_ftt_in_october_2022_are_investable() -> None:
    snaps, bars = bundle.universe_snapshots(), bundle.ohlcv_usd()
    april = universe_for_month(date(2022, 4, 1), snaps, bars).filter(pl.col("symbol") == "LUNA/BRL").row(0, named=True)
    assert april["rank"] == 9 and april["in_snapshot"] and april["has_bars"] and april["investable"]
    october = universe_for_month(date(2022, 10, 1), snaps, bars).filter(pl.col("symbol") == "FTT/BRL").row(0, named=True)
    assert october["investable"]
    june = universe_for_month(date(2022, 6, 1), snaps, bars)
    assert june.filter(pl.col("symbol") == "LUNA/BRL").is_empty()  # Terra Classic: no snapshot row, no bars


def test_a_coin_missing_from_the_months_snapshot_is_never_investable() -> None:
    snaps = pl.DataFrame({
        "snapshot_date": [date(2024, 1, 1)] * 2 + [date(2024, 2, 1)],
        "base": ["AAA", "BBB", "AAA"], "rank": [1, 2, 1],
        "market_cap_usd": [10.0, 5.0, 12.0], "volume_24h_usd": [1.0, 1.0, 1.0],
    })
    bars = pl.DataFrame({"base": ["AAA", "BBB", "CCC"], "date": [date(2024, 2, 29)] * 3})
    march = universe_for_month(date(2024, 3, 1), snaps, bars)  # uses the 2024-02-01 snapshot
    assert march.select("symbol", "in_snapshot", "has_bars", "investable").rows() == [
        ("AAA/BRL", True, True, True), ("BBB/BRL", False, True, False), ("CCC/BRL", False, True, False)
    ]
    stale = pl.DataFrame({"base": ["AAA"], "date": [date(2024, 2, 22)]})  # 8 days before March: too old
    assert not universe_for_month(date(2024, 3, 1), snaps, stale)["investable"].any()
    with pytest.raises(ValueError, match="2024-01-01 → 2024-02-01"):
        universe_for_month(date(2023, 12, 1), snaps, bars)
    cov = coverage_for_month(date(2024, 3, 1), snaps, pl.DataFrame({"base": ["BBB"], "date": [date(2024, 2, 29)]}))
    assert cov.select("members", "members_with_bars", "mcap_usd_without_bars", "mcap_share_with_bars").row(0) == (1, 0, 12.0, 0.0)


def test_real_month_never_targets_a_coin_outside_its_snapshot() -> None:
    snaps, bars = bundle.universe_snapshots(), bundle.ohlcv_usd()
    for month in (date(2018, 6, 1), date(2021, 3, 1), date(2022, 12, 1), date(2025, 10, 1)):
        uni = universe_for_month(month, snaps, bars)
        listed = snaps.filter(pl.col("snapshot_date") == snaps.filter(pl.col("snapshot_date") <= month)["snapshot_date"].max())
        assert set(uni.filter("investable")["symbol"]) <= {f"{b}/BRL" for b in listed["base"]}
        cov = coverage_for_month(month, snaps, bars, (51, 200))
        assert cov["scope"].to_list() == ["all", "rank 51-200"]
        assert cov["members"][0] == len(listed) and 0 < cov["members_with_bars"][0] < cov["members"][0]


# --- CDI -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("year", "published_pct"), [(2019, 5.96), (2022, 12.39), (2023, 13.04)])
def test_cdi_compounds_to_the_published_yearly_rate(year: int, published_pct: float) -> None:
    cdi = bundle.cdi().filter(pl.col("date").dt.year() == year)
    assert cdi.columns == ["date", "cdi_pct"]
    compounded = math.prod(1 + r / 100 for r in cdi["cdi_pct"]) - 1
    assert round(compounded * 100, 2) == published_pct


# --- range errors --------------------------------------------------------------------------------
def test_requests_outside_the_bundle_name_the_covered_range() -> None:
    replay = ReplaySource()
    with pytest.raises(DataRangeError, match=r"bundled daily bars cover 2014-09-17 → 2025-11-13; asked 2027-01-01 → 2027-03-01"):
        replay.fetch_ohlcv_1d(date(2027, 1, 1), date(2027, 3, 1))
    with pytest.raises(DataRangeError, match=r"2016-12-04 → 2025-10-01"):
        replay.fetch_market_caps(date(2027, 1, 1))
    with pytest.raises(DataRangeError, match=r"2016-12-04 → 2025-10-01"):
        replay.fetch_market_caps(date(2016, 1, 1))
    assert isinstance(DataRangeError("x", (date(2020, 1, 1), date(2020, 1, 2)), (date(2021, 1, 1), date(2021, 1, 1))), ValueError)
    partly = replay.fetch_ohlcv_1d(date(2025, 11, 12), date(2026, 1, 5))
    assert sorted(partly["date"].unique().to_list()) == [date(2025, 11, 12), date(2025, 11, 13)]


def test_market_caps_carry_rank_volume_and_price() -> None:
    caps = ReplaySource().fetch_market_caps(date(2022, 4, 15))
    assert caps.columns == ["snapshot_date", "symbol", "base", "rank", "market_cap_usd", "volume_24h_usd", "price_usd"]
    assert caps["snapshot_date"].unique().to_list() == [date(2022, 4, 1)] and len(caps) == 200
    btc = caps.filter(pl.col("symbol") == "BTC/BRL").row(0, named=True)
    assert btc["rank"] == 1 and btc["price_usd"] > 40_000  # BTC was ~$45k on 2022-04-01
