"""The replay source speaks the live-connector interface: daily bars with a UTC ts, markets, clear refusals."""
from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.errors import DataNotAvailable
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.ingestion.resources import MarketData

UTC = timezone.utc


def test_daily_bars_open_at_midnight_utc_within_the_half_open_range() -> None:
    replay = ReplaySource()
    bars = replay.fetch_ohlcv("1d", datetime(2021, 9, 10, tzinfo=UTC), datetime(2021, 9, 12, tzinfo=UTC), ["ETH/BRL", "BTC/BRL"])
    assert bars.columns == ["symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl"]
    assert bars.select("symbol", "ts").rows() == [
        (s, datetime(2021, 9, d, tzinfo=UTC)) for s in ("BTC/BRL", "ETH/BRL") for d in (10, 11)
    ]  # 09-12 is the exclusive end
    daily = replay.fetch_ohlcv_1d(date(2021, 9, 10), date(2021, 9, 11)).filter(pl.col("symbol").is_in(["BTC/BRL", "ETH/BRL"]))
    assert bars["close"].to_list() == daily["close"].to_list()


def test_a_bar_that_opened_before_start_is_excluded() -> None:
    bars = ReplaySource().fetch_ohlcv("1d", datetime(2021, 9, 10, 12, tzinfo=UTC), datetime(2021, 9, 11, 12, tzinfo=UTC), ["BTC/BRL"])
    assert bars["ts"].to_list() == [datetime(2021, 9, 11, tzinfo=UTC)]


@pytest.mark.parametrize("call", [
    lambda r: r.fetch_ohlcv("1h", date(2021, 1, 1), date(2021, 1, 2), ["BTC/BRL"]),
    lambda r: r.fetch_ohlcv("1m", date(2021, 1, 1), date(2021, 1, 2)),
    lambda r: r.fetch_order_book("BTC/BRL"),
    lambda r: r.fetch_trades("BTC/BRL", date(2021, 1, 1), date(2021, 1, 2)),
])
def test_intraday_data_is_refused_clearly(call) -> None:  # noqa: ANN001
    with pytest.raises(DataNotAvailable, match="the bundled replay has only daily bars"):
        call(ReplaySource())


def test_markets_list_each_bundled_coin_from_its_first_bar() -> None:
    markets = ReplaySource().markets()
    raw = bundle.ohlcv_usd()
    assert len(markets) == raw["base"].n_unique() and markets["quote"].unique().to_list() == ["BRL"]
    first_btc = raw.filter(pl.col("base") == "BTC")["date"].min()
    btc = markets.filter(pl.col("symbol") == "BTC/BRL").row(0, named=True)
    assert btc["listed_at"] == datetime(first_btc.year, first_btc.month, first_btc.day, tzinfo=UTC)
    assert btc["active"] and btc["delisted_at"] is None
    assert first_btc == date(2014, 9, 17)  # Yahoo's first BTC-USD row (data/SOURCES.md: 2014-09)


def test_resource_builds_the_live_stack() -> None:
    from dca_pipeline.ingestion.ccxt_source import CcxtSource, FailoverSource
    from dca_pipeline.ingestion.ptax import PtaxSource

    single = MarketData(source="ccxt", base_url="http://127.0.0.1:9/api/v4", fx="ptax", max_attempts=2).client()
    assert isinstance(single, CcxtSource) and isinstance(single.fx_source, PtaxSource)
    assert single.exchange.urls["api"]["v4PublicNet"] == "http://127.0.0.1:9/api/v4" and single.retry.max_attempts == 2
    both = MarketData(source="ccxt", failover_exchange_ids=["binance"]).client()
    assert isinstance(both, FailoverSource) and both.name == "failover(ccxt:mercadobitcoin, ccxt:binance)"
    with pytest.raises(ValueError, match="unknown fx source"):
        MarketData(source="ccxt", fx="yahoo").client()
