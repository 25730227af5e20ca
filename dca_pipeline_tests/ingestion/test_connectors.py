"""The real ccxt client (Mercado Bitcoin v4 adapter) against the loopback exchange: pagination, shapes and faults."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.retry import RequestBudget, retry_after_seconds
from dca_pipeline_tests.ingestion.conftest import FakeClock, mb_source
from dca_pipeline_tests.ingestion.fake_exchange import EPOCH, candle, trades

T0 = EPOCH  # 2024-05-01 00:00 UTC


def expected_bars(pair: str, start: datetime, end: datetime, step: timedelta) -> list[tuple]:
    """(ts, o, h, l, c, v) straight from the fixture's price path (sent with 10 decimals), independent of the client."""
    out, t = [], start
    while t < end:
        out.append((t, *(round(x, 10) for x in candle(pair, int(t.timestamp())))))
        t += step
    return out


def test_minute_candles_are_paginated_and_match_the_exchange(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock, page_limit=10)
    bars = src.fetch_ohlcv("1m", T0, T0 + timedelta(hours=1), ["PEPE/BRL"])
    assert server.count("/candles") == 6  # 60 bars in pages of 10, the 6th page reaches the end
    assert bars.columns == ["symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl"]
    assert bars.schema["ts"] == pl.Datetime("us", "UTC")
    want = expected_bars("PEPE-BRL", T0, T0 + timedelta(hours=1), timedelta(minutes=1))
    got = bars.select("ts", "open", "high", "low", "close", "volume").rows()
    assert len(got) == 60
    for g, w in zip(got, want):
        assert g[0] == w[0] and g[1:] == pytest.approx(w[1:], rel=1e-9)
    assert bars["volume_brl"].to_list() == pytest.approx([w[5] * w[4] for w in want], rel=1e-9)


def test_every_active_brl_market_by_default_and_the_1d_contract(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock)
    hourly = src.fetch_ohlcv("1h", T0, T0 + timedelta(days=2))
    assert hourly.group_by("symbol").len().sort("symbol").rows() == [("BTC/BRL", 48), ("PEPE/BRL", 48)]  # OLD is delisted
    daily = src.fetch_ohlcv_1d(date(2024, 5, 1), date(2024, 5, 3))
    assert daily["date"].to_list() == [date(2024, 5, d) for d in (1, 2, 3)] * 2
    o, h, l, c, v = (round(x, 10) for x in candle("BTC-BRL", int(T0.timestamp())))
    assert daily.row(0)[:2] == ("BTC/BRL", date(2024, 5, 1))
    assert daily.row(0)[2:] == pytest.approx((o, h, l, c, v, v * c), rel=1e-12)


def test_duplicated_and_out_of_order_candles_come_out_unique_and_sorted(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "dup", times=None)
    bars = mb_source(server, clock, page_limit=30).fetch_ohlcv("1m", T0, T0 + timedelta(hours=1), ["BTC/BRL"])
    want = [w[0] for w in expected_bars("BTC-BRL", T0, T0 + timedelta(hours=1), timedelta(minutes=1))]
    assert bars["ts"].to_list() == want  # 60 distinct bars in order, though the server sent 80 shuffled


def test_short_page_ends_pagination(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "short", times=1)
    bars = mb_source(server, clock, page_limit=10).fetch_ohlcv("1m", T0, T0 + timedelta(hours=1), ["BTC/BRL"])
    assert server.count("/candles") == 1 and len(bars) == 5


def test_empty_page_gives_an_empty_frame_with_the_schema(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "empty", times=None)
    bars = mb_source(server, clock).fetch_ohlcv("1h", T0, T0 + timedelta(days=1), ["BTC/BRL"])
    assert bars.is_empty() and bars.schema["ts"] == pl.Datetime("us", "UTC") and server.count("/candles") == 1


def test_429_waits_exactly_the_retry_after_then_recovers(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "429", times=2, retry_after="7")
    src = mb_source(server, clock)
    bars = src.fetch_ohlcv("1h", T0, T0 + timedelta(hours=3), ["BTC/BRL"])
    assert len(bars) == 3
    assert server.count("/candles") == 3 and src.last_log.attempts == 3
    assert clock.sleeps == [7.0, 7.0]
    assert src.last_log.waits == [(7.0, "retry-after"), (7.0, "retry-after")]


def test_5xx_backs_off_with_full_jitter_then_recovers(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "503", times=3)
    src = mb_source(server, clock)
    assert len(src.fetch_ohlcv("1h", T0, T0 + timedelta(hours=2), ["PEPE/BRL"])) == 2
    assert src.last_log.attempts == 4 and len(clock.sleeps) == 3
    for k, wait in enumerate(clock.sleeps):  # full jitter: uniform in [0, base * 2**k]
        assert 0.0 <= wait <= 0.5 * 2**k
    assert len(set(clock.sleeps)) == 3  # jittered, not a fixed schedule


def test_slow_response_times_out_and_is_retried(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "slow", times=1, delay_s=1.5)  # client timeout is 0.4 s
    src = mb_source(server, clock)
    assert len(src.fetch_ohlcv("1h", T0, T0 + timedelta(hours=2), ["BTC/BRL"])) == 2
    assert src.last_log.attempts == 2 and len(clock.sleeps) == 1


def test_malformed_json_fails_at_once_naming_source_symbol_and_range(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "malformed", times=None)
    src = mb_source(server, clock)
    with pytest.raises(SourceError) as err:
        src.fetch_ohlcv("1h", T0, T0 + timedelta(days=1), ["PEPE/BRL"])
    message = str(err.value)
    assert server.count("/candles") == 1 and clock.sleeps == []  # no retry loop on a bad payload
    assert "ccxt:mercadobitcoin" in message and "PEPE/BRL" in message and "malformed JSON" in message
    assert "[2024-05-01T00:00:00+00:00 → 2024-05-02T00:00:00+00:00)" in message


def test_permanent_5xx_gives_up_after_max_attempts(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "500", times=None)
    with pytest.raises(SourceError) as err:
        mb_source(server, clock).fetch_ohlcv("1d", T0, T0 + timedelta(days=5), ["BTC/BRL"])
    assert server.count("/candles") == 4 and len(clock.sleeps) == 3
    assert "BTC/BRL" in str(err.value) and "after 4 attempts" in str(err.value) and "2024-05-06" in str(err.value)


def test_request_budget_sleeps_when_the_minute_is_used_up(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock, per_minute=2, page_limit=10)
    src.fetch_ohlcv("1m", T0, T0 + timedelta(minutes=30), ["BTC/BRL"])  # 1 markets + 3 candle requests
    assert server.count("/") == 4
    assert clock.sleeps == [60.0]  # requests 3 and 4 wait for the first minute's window to pass


def test_rolling_budget_unit() -> None:
    clock = FakeClock()
    budget = RequestBudget(3, sleep=clock.sleep, clock=clock)
    for t in (0.0, 10.0, 20.0):
        clock.now = t
        budget.acquire()
    clock.now = 30.0
    budget.acquire()  # the oldest (t=0) leaves the window at t=60
    assert clock.sleeps == [30.0] and clock.now == 60.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"Retry-After": "12"}) == 12.0
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    assert retry_after_seconds({"retry-after": "Wed, 01 May 2024 12:00:30 GMT"}, now=now) == 30.0
    assert retry_after_seconds({"Content-Type": "x"}) is None


def test_order_book_top_levels(server, clock) -> None:  # noqa: ANN001
    book = mb_source(server, clock).fetch_order_book("BTC/BRL", depth=3)
    assert book.select("side", "level", "price", "amount").rows() == [
        ("bid", 1, 349999.0, 2.0), ("bid", 2, 349998.0, 4.0), ("bid", 3, 349997.0, 6.0),
        ("ask", 1, 350001.0, 1.5), ("ask", 2, 350002.0, 3.0), ("ask", 3, 350003.0, 4.5),
    ]
    assert book["ts"].unique().to_list() == [T0] and book["symbol"].unique().to_list() == ["BTC/BRL"]


def test_trades_are_paginated_and_deduplicated(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock, page_limit=100)
    got = src.fetch_trades("PEPE/BRL", T0, T0 + timedelta(hours=1))
    want = [t for t in trades("PEPE-BRL") if t["date"] < int((T0 + timedelta(hours=1)).timestamp())]
    assert got["trade_id"].to_list() == [str(t["tid"]) for t in want]  # 514 trades, none twice
    assert got["price"].to_list() == [float(t["price"]) for t in want]
    assert server.count("/trades") >= 6


def test_tickers_and_markets(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock)
    tickers = src.fetch_tickers()
    o, h, l, c, v = candle("PEPE-BRL", int(T0.timestamp()))
    pepe = tickers.filter(pl.col("symbol") == "PEPE/BRL").row(0, named=True)
    assert pepe["last"] == pytest.approx(c) and pepe["volume"] == v and pepe["ts"] == T0
    markets = src.markets()
    assert markets.select("symbol", "active", "price_tick").rows() == [
        ("BTC/BRL", True, 1e-8), ("OLD/BRL", False, 1e-8), ("PEPE/BRL", True, 1e-10),
    ]


def test_client_errors_are_not_retried(server, clock) -> None:  # noqa: ANN001
    server.fault("/orderbook", "404", times=None)
    with pytest.raises(SourceError) as err:
        mb_source(server, clock).fetch_order_book("PEPE/BRL")
    assert server.count("/orderbook") == 1 and clock.sleeps == []
    assert "BadRequest" in str(err.value) and "PEPE/BRL" in str(err.value) and "after 1 attempt:" in str(err.value)


def test_transient_classification_of_stock_ccxt_errors() -> None:
    """Other ccxt exchanges file some 4xx under ExchangeNotAvailable and leave 504 as a bare ExchangeError."""
    import ccxt

    from dca_pipeline.ingestion.ccxt_source import is_transient

    assert is_transient(ccxt.RequestTimeout("binance GET https://x/api"))
    assert is_transient(ccxt.RateLimitExceeded("binance GET https://x/api 429 Too Many Requests"))
    assert is_transient(ccxt.ExchangeNotAvailable("binance GET https://x/api 503 Service Unavailable"))
    assert is_transient(ccxt.ExchangeError("binance GET https://x/api 504 Gateway Timeout"))
    assert not is_transient(ccxt.ExchangeNotAvailable("binance GET https://x/api 404 Not Found"))
    assert not is_transient(ccxt.BadResponse("binance GET https://x/api: malformed JSON"))
    assert not is_transient(ccxt.AuthenticationError("binance GET https://x/api 401"))
