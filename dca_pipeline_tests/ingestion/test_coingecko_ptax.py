"""CoinGecko and BCB PTAX clients against the loopback server; the symbol→CoinGecko id mapping."""
from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.coingecko import CoinGeckoSource, id_mapping
from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.http_json import JsonHttpClient
from dca_pipeline.ingestion.ptax import PtaxSource
from dca_pipeline.ingestion.retry import RetrySettings
from dca_pipeline_tests.ingestion.fake_exchange import CG_COINS, ptax_rate


def _http(name: str, clock, attempts: int = 3) -> JsonHttpClient:  # noqa: ANN001
    return JsonHttpClient(name, timeout_s=0.4, retry=RetrySettings(attempts, 0.5, 30), sleep=clock.sleep, rng=random.Random(5))


# --- mapping -------------------------------------------------------------------------------------
def test_every_bundled_symbol_is_mapped_or_explicitly_unmapped() -> None:
    mapping = id_mapping()
    bundled = sorted(bundle.ohlcv_usd()["base"].unique().to_list())
    assert sorted(mapping["base"].to_list()) == bundled  # one row per bundled base, no extra
    assert mapping["symbol"].to_list() == [b + "/BRL" for b in mapping["base"].to_list()]
    ids = mapping["coingecko_id"].drop_nulls()
    assert ids.n_unique() == len(ids) and len(ids) > 60
    unmapped = mapping.filter(pl.col("coingecko_id").is_null())
    assert unmapped["evidence"].str.starts_with("unmapped").all()  # explicit, with a reason
    pairs = dict(zip(mapping["base"], mapping["coingecko_id"]))
    assert (pairs["BTC"], pairs["ETH"], pairs["SNX"], pairs["IOTA"]) == ("bitcoin", "ethereum", "havven", "iota")


# --- CoinGecko -----------------------------------------------------------------------------------
def test_coins_markets_in_brl_and_usd(server, clock, monkeypatch, caplog) -> None:  # noqa: ANN001
    monkeypatch.setenv("DCA_COINGECKO_API_KEY", "cg-secret-123")
    caplog.set_level(logging.DEBUG)
    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    cg.ids["PEPE/BRL"] = "pepe"  # not a bundled coin: the loopback server serves it for the sub-cent case
    brl = cg.coins_markets(["BTC/BRL", "PEPE/BRL"], "brl")
    assert brl.select("symbol", "coingecko_id", "price", "market_cap").rows() == [
        ("BTC/BRL", "bitcoin", CG_COINS[0]["current_price"], CG_COINS[0]["market_cap"]),
        ("PEPE/BRL", "pepe", CG_COINS[1]["current_price"], CG_COINS[1]["market_cap"]),
    ]
    assert brl["last_updated"][0] == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    usd = cg.coins_markets(["BTC/BRL"], "usd")
    assert usd["price"][0] == pytest.approx(CG_COINS[0]["current_price"] / 5.0)
    assert server.coingecko_keys == ["cg-secret-123", "cg-secret-123"]  # sent as the demo header
    assert "cg-secret-123" not in caplog.text and "cg-secret-123" not in repr(cg.client)


def test_market_chart_range(server, clock) -> None:  # noqa: ANN001
    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    chart = cg.market_chart_range("BTC/BRL", start, start + timedelta(days=3), "usd")
    assert chart["ts"].to_list() == [start + timedelta(days=k) for k in range(4)]
    day0 = int(start.timestamp()) // 86400
    assert chart["price"].to_list() == pytest.approx([70000.0 * (1 + (day0 + k) % 7 / 100) for k in range(4)])
    assert chart["market_cap"].to_list() == pytest.approx([6.9e12 / 5] * 4)


def test_coingecko_429_honours_retry_after_and_unmapped_symbol_is_refused(server, clock) -> None:  # noqa: ANN001
    server.fault("/coins/markets", "429", times=1, retry_after="11")
    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    assert len(cg.coins_markets(["ETH/BRL"], "usd")) == 0  # the fixture has no ethereum row: empty, not an error
    assert clock.sleeps == [11.0] and cg.client.last_log.attempts == 2
    with pytest.raises(SourceError, match="VGX/BRL.*no CoinGecko id"):
        cg.coins_markets(["VGX/BRL"])


def test_coingecko_malformed_json_names_source_symbol_and_range(server, clock) -> None:  # noqa: ANN001
    server.fault("/market_chart", "malformed", times=None)
    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    with pytest.raises(SourceError) as err:
        cg.market_chart_range("BTC/BRL", date(2024, 5, 1), date(2024, 5, 4))
    assert "'coingecko'" in str(err.value) and "BTC/BRL" in str(err.value) and "[2024-05-01 → 2024-05-04)" in str(err.value)
    assert "MalformedJson" in str(err.value) and clock.sleeps == [] and server.count("/market_chart") == 1


# --- PTAX ----------------------------------------------------------------------------------------
def test_ptax_venda_forward_filled_over_the_weekend(server, clock) -> None:  # noqa: ANN001
    ptax = PtaxSource(_http("bcb_ptax", clock), base_url=server.ptax_url)
    fx = ptax.fetch_fx_usd_brl(date(2024, 5, 3), date(2024, 5, 6))  # Fri .. Mon
    friday, monday = ptax_rate(datetime(2024, 5, 3))[1], ptax_rate(datetime(2024, 5, 6))[1]
    assert fx.columns == ["date", "usd_brl", "source", "rate_date", "is_filled"]
    assert fx.select("date", "usd_brl", "is_filled").rows() == [
        (date(2024, 5, 3), friday, False), (date(2024, 5, 4), friday, True),
        (date(2024, 5, 5), friday, True), (date(2024, 5, 6), monday, False),
    ]
    assert fx["source"].unique().to_list() == ["bcb_ptax_venda"] and ptax.served_by == "bcb_ptax"


def test_ptax_starting_on_a_sunday_uses_fridays_rate(server, clock) -> None:  # noqa: ANN001
    fx = PtaxSource(_http("bcb_ptax", clock), base_url=server.ptax_url).fetch_fx_usd_brl(date(2024, 5, 5), date(2024, 5, 5))
    assert fx.row(0) == (date(2024, 5, 5), ptax_rate(datetime(2024, 5, 3))[1], "bcb_ptax_venda", date(2024, 5, 3), True)


def test_ptax_down_falls_back_to_the_bundle_with_a_warning(server, clock) -> None:  # noqa: ANN001
    server.fault("/ptax", "503", times=None)
    ptax = PtaxSource(_http("bcb_ptax", clock), base_url=server.ptax_url)
    with pytest.warns(RuntimeWarning, match="PTAX unavailable"):
        fx = ptax.fetch_fx_usd_brl(date(2021, 9, 10), date(2021, 9, 12))
    published = bundle.usd_brl_published()
    friday = published.filter(pl.col("date") == date(2021, 9, 10))["usd_brl"][0]
    assert fx["usd_brl"].to_list() == [friday] * 3 and ptax.served_by == "bundle"
    assert len(ptax.warnings_) == 1 and "after 3 attempts" in ptax.warnings_[0] and server.count("/ptax") == 3


def test_ptax_without_fallback_raises(server, clock) -> None:  # noqa: ANN001
    server.fault("/ptax", "malformed", times=None)
    with pytest.raises(SourceError, match="bcb_ptax.*USD/BRL.*2024-05-01"):
        PtaxSource(_http("bcb_ptax", clock), base_url=server.ptax_url, fallback=False).fetch_fx_usd_brl(date(2024, 5, 1), date(2024, 5, 2))


def test_recent_caps_are_live_older_months_come_from_the_bundle(server, clock) -> None:  # noqa: ANN001
    from dca_pipeline.ingestion.coingecko import RecentCapsSource
    from dca_pipeline.ingestion.sources import ReplaySource

    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    caps = RecentCapsSource(cg, max_age_days=3, today=date(2024, 5, 2))
    live = caps.fetch_market_caps(date(2024, 5, 1))
    assert caps.served_by == "coingecko"
    assert live.filter(pl.col("base") == "BTC").select("snapshot_date", "symbol", "market_cap_usd").row(0) == (
        date(2024, 5, 1), "BTC/BRL", pytest.approx(CG_COINS[0]["market_cap"] / 5.0))
    old = caps.fetch_market_caps(date(2021, 9, 1))
    assert caps.served_by == "bundle"
    assert old.sort("base").equals(ReplaySource().fetch_market_caps(date(2021, 9, 1)).sort("base"))


def test_reference_closes_in_brl_feed_the_cross_source_check(server, clock) -> None:  # noqa: ANN001
    """Day D's reference is CoinGecko's BRL price at D + 1 00:00 UTC (the daily bar's close); a 10% gap is caught."""
    from dca_pipeline.ingestion.dataset_rules import cross_source_deviations

    cg = CoinGeckoSource(_http("coingecko", clock), base_url=server.coingecko_url)
    start, end = date(2024, 5, 1), date(2024, 5, 3)
    ref = cg.reference_prices_brl(["BTC/BRL", "NOTMAPPED/BRL"], start, end)
    close_day = int(datetime(2024, 5, 2, tzinfo=timezone.utc).timestamp()) // 86400
    expected = [CG_COINS[0]["current_price"] * (1 + (close_day + k) % 7 / 100) for k in range(3)]
    assert ref["symbol"].to_list() == ["BTC/BRL"] * 3 and ref["date"].to_list() == [start + timedelta(days=k) for k in range(3)]
    assert ref["price_brl"].to_list() == pytest.approx(expected)
    bars = pl.DataFrame({"symbol": ["BTC/BRL"] * 3, "date": ref["date"], "close": [expected[0], expected[1] * 1.10, expected[2] * 0.99]})
    bad = cross_source_deviations(bars, ref, 0.05)
    assert bad["date"].to_list() == [date(2024, 5, 2)] and bad["deviation"][0] == pytest.approx(0.10)


def test_ccxt_source_without_coingecko_has_no_reference() -> None:
    from dca_pipeline.ingestion.ccxt_source import CcxtSource
    from dca_pipeline.ingestion.errors import DataNotAvailable

    with pytest.raises(DataNotAvailable, match="market_caps: coingecko"):
        CcxtSource(exchange=object()).fetch_reference_prices_brl(date(2024, 5, 1), date(2024, 5, 1))
