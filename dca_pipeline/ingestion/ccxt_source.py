"""Live market data from any ccxt exchange: paginated candles, order books, trades, tickers and markets.

Every request goes through the retry helper (exponential backoff with full jitter, Retry-After, a rolling
per-exchange request budget); a final failure is a `SourceError` naming source, symbol and range.
"""
from __future__ import annotations

import os
import random
import re
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

import polars as pl

from dca_pipeline.ingestion.dataset_rules import TIMEFRAMES, resample_ohlcv
from dca_pipeline.ingestion.errors import DataNotAvailable, SourceError
from dca_pipeline.ingestion.sources import OHLCV_SCHEMA, ReplaySource
from dca_pipeline.ingestion.retry import (
    RequestBudget,
    RetryLog,
    RetrySettings,
    call_with_retry,
    retry_after_seconds,
    shared_budget,
)

T = TypeVar("T")
MB_IDS = ("mercadobitcoin", "mercado")
PRICE_COLS = ("open", "high", "low", "close", "volume")
BOOK_SCHEMA = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "side": pl.String, "level": pl.Int32, "price": pl.Float64, "amount": pl.Float64}
TRADES_SCHEMA = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "trade_id": pl.String, "side": pl.String, "price": pl.Float64, "amount": pl.Float64}
MARKETS_SCHEMA = {
    "symbol": pl.String, "base": pl.String, "quote": pl.String, "active": pl.Boolean, "price_tick": pl.Float64,
    "amount_step": pl.Float64, "min_amount": pl.Float64, "min_cost_brl": pl.Float64, "listed_at": pl.Datetime("us", "UTC"),
}
TICKERS_SCHEMA = {
    "symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "last": pl.Float64, "bid": pl.Float64, "ask": pl.Float64,
    "high": pl.Float64, "low": pl.Float64, "open": pl.Float64, "volume": pl.Float64,
}


def make_exchange(exchange_id: str = "mercadobitcoin", base_url: str | None = None, timeout_ms: int = 10_000,
                  rate_limit_ms: int | None = None, config: dict | None = None) -> Any:
    """A ccxt exchange instance: "mercadobitcoin" is the v4 adapter; credentials only from env vars.

    API key/secret come from DCA_<ID>_API_KEY / DCA_<ID>_API_SECRET when set (never from config files).
    `base_url` replaces every REST URL (tests point it at a loopback server).
    """
    import ccxt

    from dca_pipeline.ingestion.mercado_bitcoin import MercadoBitcoinV4

    settings: dict[str, Any] = {"timeout": timeout_ms, "enableRateLimit": bool(rate_limit_ms)}
    if rate_limit_ms:
        settings["rateLimit"] = rate_limit_ms
    prefix = f"DCA_{exchange_id.upper()}_"
    if os.environ.get(prefix + "API_KEY"):
        settings["apiKey"] = os.environ[prefix + "API_KEY"]
        settings["secret"] = os.environ.get(prefix + "API_SECRET", "")
    settings.update(config or {})
    if exchange_id in MB_IDS:
        cls = MercadoBitcoinV4
    elif hasattr(ccxt, exchange_id):
        cls = getattr(ccxt, exchange_id)
    else:
        raise ValueError(f"unknown ccxt exchange id {exchange_id!r}")
    exchange = cls(settings)
    if base_url:
        exchange.urls["api"] = _override_urls(exchange.urls["api"], base_url.rstrip("/"))
    return exchange


def _override_urls(api: Any, base_url: str) -> Any:
    if isinstance(api, dict):
        return {k: _override_urls(v, base_url) for k, v in api.items()}
    return base_url


def is_transient(exc: BaseException) -> bool:
    """Rate limits, DDoS protection, timeouts, network errors and 5xx are worth retrying; 4xx and bad payloads not."""
    import ccxt

    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.RequestTimeout)):
        return True
    status = _status_in_message(str(exc))
    if isinstance(exc, ccxt.NetworkError):  # includes ExchangeNotAvailable, which ccxt also uses for some 4xx
        return status is None or status >= 500 or status in (408, 418, 429)
    return isinstance(exc, ccxt.ExchangeError) and not isinstance(exc, ccxt.BadResponse) and status is not None and status >= 500


def _status_in_message(message: str) -> int | None:
    found = re.search(r"https?://\S+ (\d{3})\b", message)
    return int(found.group(1)) if found else None


def _utc(value: date | datetime) -> datetime:
    """Dates are midnight UTC; naive datetimes are read as UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class CcxtSource:
    """One ccxt exchange as a market-data source (default Mercado Bitcoin through the v4 adapter)."""

    def __init__(
        self,
        exchange: Any | None = None,
        quote: str = "BRL",
        *,
        exchange_id: str = "mercadobitcoin",
        base_url: str | None = None,
        timeout_ms: int = 10_000,
        rate_limit_ms: int | None = None,
        retry: RetrySettings | None = None,
        requests_per_minute: int = 300,
        budget: RequestBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        page_limit: int = 1000,
        fx_source: Any | None = None,
        caps_source: Any | None = None,
    ) -> None:
        self.exchange = exchange if exchange is not None else make_exchange(exchange_id, base_url, timeout_ms, rate_limit_ms)
        self.name = f"ccxt:{getattr(self.exchange, 'id', exchange_id)}"
        self.quote, self.page_limit = quote, page_limit
        self.retry = retry or RetrySettings()
        self.budget = budget or shared_budget(self.name + (base_url or ""), requests_per_minute)
        self.sleep, self.rng = sleep, rng or random.Random()
        self.last_log = RetryLog()  # attempts and waits of the most recent request (for metadata and tests)
        self.requests = 0

        self._replay = ReplaySource()
        self.fx_source = fx_source or self._replay
        self.caps_source = caps_source or self._replay
        self._markets: dict | None = None

    # --- plumbing ---------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], what: str, symbol: str | None = None,
              start: date | datetime | None = None, end: date | datetime | None = None) -> T:
        log = RetryLog()
        self.last_log = log

        def counted() -> T:
            self.requests += 1
            return fn()

        try:
            return call_with_retry(
                counted, is_transient=is_transient, retry_after=self._retry_after, settings=self.retry,
                sleep=self.sleep, budget=self.budget, rng=self.rng, log=log,
            )
        except Exception as exc:  # noqa: BLE001 - re-raised with the source, symbol and range
            raise SourceError(self.name, what, symbol, start, end, f"{type(exc).__name__}: {exc}", log.attempts) from exc

    def _retry_after(self, exc: BaseException) -> float | None:
        import ccxt

        if not isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.ExchangeNotAvailable)):
            return None  # headers of an earlier response would be stale
        return retry_after_seconds(getattr(self.exchange, "last_response_headers", None))

    def _load_markets(self, symbol: str | None = None, start: Any = None, end: Any = None) -> dict:
        """The exchange's markets, loaded once; a failure names what the caller was asked for."""
        if self._markets is None:
            self._markets = self._call(self.exchange.load_markets, "load markets for", symbol, start, end)
        return self._markets

    def _symbols(self, start: Any = None, end: Any = None) -> list[str]:
        markets = self._load_markets(None, start, end)
        return sorted(s for s, m in markets.items() if m.get("quote") == self.quote and m.get("active") is not False)

    # --- candles ----------------------------------------------------------------------------------
    def fetch_ohlcv(self, timeframe: str, start: date | datetime, end: date | datetime,
                    symbols: list[str] | None = None) -> pl.DataFrame:
        """Bars opening in [start, end) for each symbol (all active quote markets by default), deduped and sorted.
        A timeframe the exchange does not serve (Mercado Bitcoin v4 has no 5m candles) is aggregated from the
        longest finer one it does (`native_timeframe`)."""
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe must be one of {sorted(TIMEFRAMES)}, got {timeframe!r}")
        start, end = _utc(start), _utc(end)
        native = self.native_timeframe(timeframe)
        rows: list[tuple] = []
        for symbol in symbols or self._symbols(start, end):
            self._load_markets(symbol, start, end)
            rows.extend((symbol, *bar) for bar in self._paginate_ohlcv(symbol, native, start, end))
        frame = ohlcv_frame(rows)
        return frame if native == timeframe else resample_ohlcv(frame, timeframe)

    def native_timeframe(self, timeframe: str) -> str:
        """`timeframe` if the exchange lists it (or lists none), else the longest listed timeframe that divides it."""
        listed = getattr(self.exchange, "timeframes", None) or {}
        if not listed or timeframe in listed:
            return timeframe
        length = TIMEFRAMES[timeframe]
        finer = [tf for tf in TIMEFRAMES if tf in listed and TIMEFRAMES[tf] < length and length % TIMEFRAMES[tf] == timedelta(0)]
        if not finer:
            raise DataNotAvailable(self.name, f"{timeframe} candles", None, None, None,
                                   f"the exchange serves {sorted(listed)}, none of which divides {timeframe}")
        return max(finer, key=TIMEFRAMES.__getitem__)

    def _paginate_ohlcv(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> list[list]:
        step_ms, end_ms = int(TIMEFRAMES[timeframe].total_seconds() * 1000), _ms(end)
        since, bars = _ms(start), []
        while since < end_ms:
            page = self._call(lambda: self.exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=self.page_limit),
                              f"fetch {timeframe} candles", symbol, start, end)
            inside = [b for b in page if b and b[0] is not None and _ms(start) <= b[0] < end_ms]
            bars.extend(inside)
            if not page or len(page) < self.page_limit:
                break  # empty or short page: the exchange has nothing further
            last = max(b[0] for b in page)
            if last + step_ms <= since:
                break  # no progress: never loop on a page that repeats itself
            since = last + step_ms
        return bars

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        """Daily bars for start <= date <= end in the original (symbol, date, ...) contract."""
        bars = self.fetch_ohlcv("1d", start, end + timedelta(days=1))
        return bars.with_columns(pl.col("ts").dt.date().alias("date")).select(
            "symbol", "date", *PRICE_COLS, "volume_brl"
        )

    # --- books, trades, tickers, markets ------------------------------------------------------------
    def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
        """The top `depth` levels of each side (level 1 = best), at the book's own timestamp (else now)."""
        self._load_markets(symbol)
        book = self._call(lambda: self.exchange.fetch_order_book(symbol, limit=depth), "fetch order book", symbol)
        ts = book.get("timestamp") or _ms(datetime.now(timezone.utc))
        rows = [
            (symbol, ts * 1000, side, level, float(price), float(amount))
            for side, key in (("bid", "bids"), ("ask", "asks"))
            for level, (price, amount, *_) in enumerate(book.get(key, [])[:depth], start=1)
        ]
        return pl.DataFrame(rows, schema={**BOOK_SCHEMA, "ts": pl.Int64}, orient="row").with_columns(
            pl.col("ts").cast(pl.Datetime("us", "UTC"))
        )

    def fetch_trades(self, symbol: str, start: date | datetime, end: date | datetime) -> pl.DataFrame:
        """Trades in [start, end), paginated by time, deduplicated on trade id, sorted by time then id."""
        start, end = _utc(start), _utc(end)
        self._load_markets(symbol, start, end)
        since, end_ms, seen = _ms(start), _ms(end), {}
        while since < end_ms:
            page = self._call(lambda: self.exchange.fetch_trades(symbol, since=since, limit=self.page_limit),
                              "fetch trades", symbol, start, end)
            fresh = [t for t in page if str(t["id"]) not in seen]
            for t in fresh:
                if _ms(start) <= t["timestamp"] < end_ms:
                    seen[str(t["id"])] = t
            if not page or len(page) < self.page_limit or not fresh:
                break
            since = max(since, max(t["timestamp"] for t in page))
        rows = [(symbol, t["timestamp"] * 1000, str(t["id"]), t.get("side"), float(t["price"]), float(t["amount"])) for t in seen.values()]
        frame = pl.DataFrame(rows, schema={**TRADES_SCHEMA, "ts": pl.Int64}, orient="row")
        return frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).sort("ts", "trade_id")

    def fetch_tickers(self, symbols: list[str] | None = None) -> pl.DataFrame:
        """Latest ticker per symbol (last, best bid/ask, 24h high/low/open and base volume)."""
        self._load_markets()
        symbols = symbols or self._symbols()
        tickers = self._call(lambda: self.exchange.fetch_tickers(symbols), "fetch tickers", ",".join(symbols))
        rows = [
            (s, (t.get("timestamp") or 0) * 1000, *(_num(t.get(k)) for k in ("last", "bid", "ask", "high", "low", "open", "baseVolume")))
            for s, t in sorted(tickers.items())
        ]
        frame = pl.DataFrame(rows, schema={**TICKERS_SCHEMA, "ts": pl.Int64}, orient="row")
        return frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))

    def markets(self) -> pl.DataFrame:
        """Every market of the exchange with its price tick, amount step and order minimums."""
        markets = self._load_markets()
        tick_mode = getattr(self.exchange, "precisionMode", 4) == 4  # ccxt TICK_SIZE
        rows = []
        for symbol, m in sorted(markets.items()):
            prec, limits = m.get("precision") or {}, m.get("limits") or {}
            rows.append((
                symbol, m.get("base"), m.get("quote"), m.get("active") is not False,
                _step(prec.get("price"), tick_mode), _step(prec.get("amount"), tick_mode),
                _num((limits.get("amount") or {}).get("min")), _num((limits.get("cost") or {}).get("min")),
                None if m.get("created") is None else m["created"] * 1000,
            ))
        frame = pl.DataFrame(rows, schema={**MARKETS_SCHEMA, "listed_at": pl.Int64}, orient="row")
        return frame.with_columns(pl.col("listed_at").cast(pl.Datetime("us", "UTC")))

    # --- the rest of the MarketDataSource protocol ----------------------------------------------------
    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        """Every active quote market on every day (the exchange does not say when a market was listed)."""
        days = pl.date_range(start, end, "1d", eager=True).to_list()
        pairs = [(s, d) for s in self._symbols(start, end) for d in days]
        return pl.DataFrame(pairs, schema={"symbol": pl.String, "date": pl.Date}, orient="row")

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        return self.fx_source.fetch_fx_usd_brl(start, end)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        return self.caps_source.fetch_market_caps(as_of)

    def fetch_reference_prices_brl(self, start: date, end: date) -> pl.DataFrame:
        """Reference BRL closes of the listed symbols from an independent source (CoinGecko, when configured as
        `connectors.market_caps: coingecko`), for the blocking cross-source check on daily bars."""
        reference = getattr(self.caps_source, "reference_prices_brl", None)
        if reference is None:
            raise DataNotAvailable(self.name, "fetch reference prices", None, start, end,
                                   "no reference price source configured (connectors.market_caps: coingecko)")
        return reference(self._symbols(start, end), start, end)


def ohlcv_frame(rows: list[tuple]) -> pl.DataFrame:
    """(symbol, ms, o, h, l, c, v) rows → the OHLCV frame: UTC bar open, one row per (symbol, ts), the last copy winning."""
    if not rows:
        return pl.DataFrame(schema=OHLCV_SCHEMA)
    frame = pl.DataFrame(rows, schema=["symbol", "ts", *PRICE_COLS], orient="row", strict=False)
    frame = frame.with_columns(
        pl.col("ts").cast(pl.Int64).mul(1000).cast(pl.Datetime("us", "UTC")),
        *(pl.col(c).cast(pl.Float64) for c in PRICE_COLS),
    )
    frame = frame.unique(subset=["symbol", "ts"], keep="last", maintain_order=True)
    return frame.with_columns((pl.col("volume") * pl.col("close")).alias("volume_brl")).sort("symbol", "ts")


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _step(value: Any, tick_mode: bool) -> float | None:
    if value is None:
        return None
    return float(value) if tick_mode else 10.0 ** -float(value)


from dca_pipeline.ingestion.failover import FailoverSource  # noqa: E402 - kept importable from here

__all__ = ["CcxtSource", "DataNotAvailable", "FailoverSource", "SourceError", "make_exchange", "ohlcv_frame"]
