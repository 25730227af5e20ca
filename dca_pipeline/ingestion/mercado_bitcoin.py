"""Mercado Bitcoin through ccxt, with markets, tickers, order books, trades and candles from the public API v4.

ccxt's `mercado` class reads markets from the legacy v3 API and gives every market a 1e-5 price tick, so a
R$0.0000573 coin rounds to 0.00006 and a 0.000004 price is refused. This subclass only adds v4 endpoints to
`describe()` and overrides the public fetchers; signing, throttling, precision and errors stay ccxt's own.
A trading subclass can extend it with the private v4 endpoints (`v4Private` in describe()).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

V4_PUBLIC = ["v4PublicNet"]  # ccxt api name of https://api.mercadobitcoin.net/api/v4
DEFAULT_AMOUNT_STEP = "0.00000001"  # v4 /symbols publishes no amount step; MB accepts 8 decimals


class MercadoBitcoinV4(ccxt.mercado):
    """ccxt.mercado whose public market data (and so every market's precision) comes from API v4."""

    def describe(self) -> dict:
        return self.deep_extend(
            super().describe(),
            {
                "id": "mercadobitcoin",
                "name": "Mercado Bitcoin (API v4)",
                "has": {"fetchTickers": True, "fetchOHLCV": True, "fetchOrderBook": True, "fetchTrades": True},
                "timeframes": {"1m": "1m", "15m": "15m", "1h": "1h", "3h": "3h", "1d": "1d", "1w": "1w", "1M": "1M"},
                "api": {
                    "v4PublicNet": {
                        "get": {
                            "symbols": {"cost": 1},
                            "tickers": {"cost": 1},
                            "{symbol}/orderbook": {"cost": 1},
                            "{symbol}/trades": {"cost": 1},
                            "candles": {"cost": 1},
                        }
                    }
                },
                "options": {
                    "amountStep": DEFAULT_AMOUNT_STEP,  # or {"PEPE": "1"}: per-base override
                    "minAmount": {},  # per base, e.g. {"BTC": "0.000001"}
                    "minCostBrl": {},  # per base, e.g. {"*": "1"}: v4 publishes no order minimum
                    "candlesMaxCount": 1000,
                },
            },
        )

    @classmethod
    def with_base_url(cls, base_url: str, config: dict | None = None) -> "MercadoBitcoinV4":
        """An instance whose v4 calls go to `base_url` (tests point it at a loopback server)."""
        config = dict(config or {})
        exchange = cls(config)
        exchange.urls["api"]["v4PublicNet"] = base_url.rstrip("/")
        exchange.urls["api"]["v4Private"] = base_url.rstrip("/")
        return exchange

    # --- HTTP ------------------------------------------------------------------------------------
    def v4_get(self, path: str, params: dict | None = None) -> Any:
        """GET a public v4 path through ccxt (throttle, errors) and insist on a JSON document back."""
        response = self.request(path, V4_PUBLIC, "GET", params or {})
        if not isinstance(response, (dict, list)):
            raise ccxt.BadResponse(f"{self.id} GET {path}: malformed JSON: {str(response)[:120]!r}")
        return response

    def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):  # noqa: ANN001, ANN201
        """Map v4 HTTP statuses onto ccxt errors: 429 rate limit, 5xx unavailable, other 4xx permanent."""
        if code == 429:
            raise ccxt.RateLimitExceeded(f"{self.id} {method} {url} 429 {reason}")
        if code is not None and code >= 500:
            raise ccxt.ExchangeNotAvailable(f"{self.id} {method} {url} {code} {reason}")
        if code is not None and code >= 400:
            raise ccxt.BadRequest(f"{self.id} {method} {url} {code} {reason}: {str(body)[:200]}")
        if code == 200 and response is None and body and body.lstrip()[:1] in ("{", "["):
            raise ccxt.BadResponse(f"{self.id} {method} {url}: malformed JSON: {body[:120]!r}")
        return super().handle_errors(code, reason, url, method, headers, body, response, request_headers, request_body)

    # --- markets ---------------------------------------------------------------------------------
    def fetch_markets(self, params: dict = {}) -> list[dict]:  # noqa: B006 - ccxt signature
        columns = self.v4_get("symbols", params)
        if not isinstance(columns, dict) or not isinstance(columns.get("symbol"), list):
            raise ccxt.BadResponse(f"{self.id} GET symbols: expected a columnar object with a 'symbol' list")
        n = len(columns["symbol"])
        rows = [{key: (values[i] if isinstance(values, list) and i < len(values) else None) for key, values in columns.items()} for i in range(n)]
        return [self._parse_v4_market(row) for row in rows]

    def _parse_v4_market(self, row: dict) -> dict:
        market_id = row["symbol"]
        base_id, quote_id = (row.get("base-currency"), row.get("currency"))
        if not base_id or not quote_id:
            base_id, _, quote_id = market_id.partition("-")
        base, quote = self.safe_currency_code(base_id), self.safe_currency_code(quote_id)
        tick = str(Decimal(str(row.get("minmovement") or "1")) / Decimal(str(row.get("pricescale") or "100000000")))
        step = self._per_base("amountStep", base) or DEFAULT_AMOUNT_STEP
        active = bool(row.get("exchange-listed", True)) and bool(row.get("exchange-traded", True))
        return {
            "id": market_id, "symbol": f"{base}/{quote}", "base": base, "quote": quote, "settle": None,
            "baseId": base_id, "quoteId": quote_id, "settleId": None, "type": "spot", "spot": True,
            "margin": False, "swap": False, "future": False, "option": False, "active": active,
            "contract": False, "linear": None, "inverse": None, "contractSize": None, "expiry": None,
            "expiryDatetime": None, "strike": None, "optionType": None,
            "precision": {"amount": self.parse_number(step), "price": self.parse_number(tick)},
            "limits": {
                "leverage": {"min": None, "max": None},
                "amount": {"min": self.parse_number(self._per_base("minAmount", base)), "max": None},
                "price": {"min": self.parse_number(tick), "max": None},
                "cost": {"min": self.parse_number(self._per_base("minCostBrl", base)), "max": None},
            },
            "created": None,
            "info": row,
        }

    def _per_base(self, option: str, base: str) -> str | None:
        value = self.options.get(option)
        if isinstance(value, dict):
            value = value.get(base, value.get("*"))
        return None if value is None else str(value)

    # --- tickers, order book, trades, candles ------------------------------------------------------
    def fetch_tickers(self, symbols: list[str] | None = None, params: dict = {}) -> dict:  # noqa: B006
        self.load_markets()
        symbols = symbols or [s for s, m in self.markets.items() if m.get("active")]
        ids = ",".join(self.market_id(s) for s in symbols)
        response = self.v4_get("tickers", self.extend({"symbols": ids}, params))
        tickers = [self.parse_ticker(t) for t in self.to_array(response)]
        return self.filter_by_array_tickers(tickers, "symbol", symbols)

    def fetch_ticker(self, symbol: str, params: dict = {}) -> dict:  # noqa: B006
        return self.fetch_tickers([symbol], params)[symbol]

    def parse_ticker(self, ticker: dict, market: dict | None = None) -> dict:
        market = self.safe_market(self.safe_string(ticker, "pair"), market, "-")
        ts = self.safe_timestamp(ticker, "date")
        last = self.safe_string(ticker, "last")
        return self.safe_ticker(
            {
                "symbol": market["symbol"], "timestamp": ts, "datetime": self.iso8601(ts),
                "high": self.safe_string(ticker, "high"), "low": self.safe_string(ticker, "low"),
                "bid": self.safe_string(ticker, "buy"), "bidVolume": None,
                "ask": self.safe_string(ticker, "sell"), "askVolume": None, "vwap": None,
                "open": self.safe_string(ticker, "open"), "close": last, "last": last,
                "previousClose": None, "change": None, "percentage": None, "average": None,
                "baseVolume": self.safe_string(ticker, "vol"), "quoteVolume": None, "info": ticker,
            },
            market,
        )

    def fetch_order_book(self, symbol: str, limit: int | None = None, params: dict = {}) -> dict:  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"]}
        if limit is not None:
            request["limit"] = limit
        book = self.v4_get("{symbol}/orderbook", self.extend(request, params))
        if not isinstance(book, dict):
            raise ccxt.BadResponse(f"{self.id} GET {market['id']}/orderbook: expected an object")
        ts = _epoch_ms(self.safe_integer(book, "timestamp"))
        return self.parse_order_book(book, market["symbol"], ts, "bids", "asks", 0, 1)

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None, params: dict = {}) -> list:  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request: dict = {"symbol": market["id"]}
        if since is not None:
            request["from"] = since // 1000
        if limit is not None:
            request["limit"] = limit
        response = self.v4_get("{symbol}/trades", self.extend(request, params))
        return self.parse_trades(self.to_array(response), market, since, limit)

    def parse_trade(self, trade: dict, market: dict | None = None) -> dict:
        ts = self.safe_timestamp(trade, "date")
        return self.safe_trade(
            {
                "id": self.safe_string(trade, "tid"), "info": trade, "timestamp": ts, "datetime": self.iso8601(ts),
                "symbol": market["symbol"] if market else None, "order": None, "type": None,
                "side": self.safe_string(trade, "type"), "takerOrMaker": None,
                "price": self.safe_string(trade, "price"), "amount": self.safe_string(trade, "amount"),
                "cost": None, "fee": None,
            },
            market,
        )

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1h", since: int | None = None, limit: int | None = None, params: dict = {}) -> list:  # noqa: B006
        """Candles from v4 `/candles` (TradingView columns t/o/h/l/c/v), `limit` bars from `since`."""
        self.load_markets()
        market = self.market(symbol)
        limit = min(limit or 500, self.options["candlesMaxCount"])
        seconds = self.parse_timeframe(timeframe)
        request: dict = {"symbol": market["id"], "resolution": self.safe_string(self.timeframes, timeframe, timeframe)}
        if since is not None:
            request["from"] = since // 1000
            request["to"] = request["from"] + limit * seconds - 1
        else:
            request["to"] = self.seconds()
            request["countback"] = limit
        response = self.v4_get("candles", self.extend(request, params))
        if not isinstance(response, dict):
            raise ccxt.BadResponse(f"{self.id} GET candles: expected t/o/h/l/c/v columns")
        return self.parse_trading_view_ohlcv(response, market, timeframe, since, limit)


def _epoch_ms(value: int | None) -> int | None:
    """v4 timestamps come in s, ms, µs or ns: normalise to ms."""
    if value is None:
        return None
    while value > 10**13:
        value //= 1000
    return value * 1000 if value < 10**11 else value
