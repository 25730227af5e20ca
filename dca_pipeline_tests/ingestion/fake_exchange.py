"""A loopback HTTP server speaking Mercado Bitcoin API v4, CoinGecko v3 and BCB PTAX (Olinda), with faults.

Responses are shaped like the documented ones (MB v4: columnar /symbols, string numbers, TradingView
candles; CoinGecko: /coins/markets rows and market_chart [ms, value] pairs; PTAX: OData `value` list).
Faults are queued per path fragment: `server.fault("/candles", "429", times=2, retry_after=7)`.
"""
from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

MB_PREFIX, CG_PREFIX, PTAX_PREFIX = "/mb/api/v4", "/cg/api/v3", "/ptax"
RESOLUTION_S = {"1m": 60, "15m": 900, "1h": 3600, "3h": 10800, "1d": 86400}
EPOCH = datetime(2024, 5, 1, tzinfo=timezone.utc)

# v4 /symbols (columnar): PEPE trades at R$0.0000573 with a 1e-10 tick; BTC with a 1e-8 price scale
SYMBOLS = {
    "symbol": ["BTC-BRL", "PEPE-BRL", "OLD-BRL"],
    "description": ["Bitcoin", "Pepe", "Delisted coin"],
    "currency": ["BRL", "BRL", "BRL"],
    "base-currency": ["BTC", "PEPE", "OLD"],
    "exchange-listed": [True, True, False],
    "exchange-traded": [True, True, False],
    "minmovement": ["1", "1", "1"],
    "pricescale": [100000000, 10000000000, 100000000],
    "type": ["CRYPTO", "CRYPTO", "CRYPTO"],
    "timezone": ["America/Sao_Paulo"] * 3,
    "session-regular": ["24x7"] * 3,
    "withdrawal-fee": ["0.0004", "100000", "1"],
    "withdraw-minimum": ["0.001", "1000000", "1"],
    "deposit-minimum": ["0.0001", "100000", "1"],
}
BASE_PRICE = {"BTC-BRL": 350000.0, "PEPE-BRL": 0.0000573}


def candle(symbol: str, t: int) -> tuple[float, float, float, float, float]:
    """The fixture's bar opening at epoch second t: a deterministic price path, so tests can compute it too."""
    base = BASE_PRICE[symbol]
    k = (t // 60) % 97
    close = base * (1 + k / 1000)
    return (base * (1 + (k - 1) / 1000), close * 1.002, base * (1 + (k - 2) / 1000), close, 10.0 + k)


def trades(symbol: str) -> list[dict]:
    """2,500 fixture trades, one every 7 s from EPOCH, ids 1..2500."""
    start = int(EPOCH.timestamp())
    return [
        {"tid": i, "date": start + 7 * i, "type": "buy" if i % 3 else "sell",
         "price": f"{BASE_PRICE[symbol] * (1 + i / 100000):.10f}", "amount": f"{0.001 * (1 + i % 5):.8f}"}
        for i in range(1, 2501)
    ]


@dataclass
class Fault:
    fragment: str
    kind: str  # an HTTP status ("404", "429", "503", ...), "slow", "malformed", "empty", "short", "dup"
    times: int | None  # None: every request
    retry_after: str | None = None
    delay_s: float = 1.0


class FakeExchangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.coingecko_keys: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def mb_url(self) -> str:
        return self.url + MB_PREFIX

    @property
    def coingecko_url(self) -> str:
        return self.url + CG_PREFIX

    @property
    def ptax_url(self) -> str:
        return self.url + PTAX_PREFIX

    def fault(self, fragment: str, kind: str, times: int | None = 1, retry_after: str | None = None, delay_s: float = 1.0) -> None:
        self.faults.append(Fault(fragment, kind, times, retry_after, delay_s))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            self.hits.append(path)
            for f in self.faults:
                if f.fragment in path and (f.times is None or f.times > 0):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def count(self, fragment: str) -> int:
        return sum(fragment in h for h in self.hits)

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeExchangeServer

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass

    def _send(self, status: int, body: str, headers: dict | None = None) -> None:
        payload = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def do_GET(self) -> None:  # noqa: N802
        parsed = urlparse(self.path)
        path, query = unquote(parsed.path), {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        fault = self.server.take_fault(self.path)
        if fault is not None:
            if fault.kind.isdigit():  # an HTTP status: "404", "429", "500", "503", ...
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._send(int(fault.kind), json.dumps({"message": f"fault {fault.kind}"}), headers)
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
            if fault.kind == "malformed":
                return self._send(200, '{"t": [1714521600, "o": oops')
        try:
            body = self._route(path, query, fault.kind if fault else None)
        except KeyError as exc:
            return self._send(404, json.dumps({"message": f"not found: {exc}"}))
        self._send(200, json.dumps(body))

    def _route(self, path: str, q: dict, fault: str | None) -> object:
        if path.startswith(MB_PREFIX):
            return _mercado(path[len(MB_PREFIX):], q, fault)
        if path.startswith(CG_PREFIX):
            self.server.coingecko_keys.append(self.headers.get("x-cg-demo-api-key") or self.headers.get("x-cg-pro-api-key"))
            return _coingecko(path[len(CG_PREFIX):], q)
        if path.startswith(PTAX_PREFIX):
            return _ptax(q)
        raise KeyError(path)


def _mercado(path: str, q: dict, fault: str | None) -> object:
    if path == "/symbols":
        return SYMBOLS
    if path == "/tickers":
        out = []
        for pair in q["symbols"].split(","):
            o, h, l, c, v = candle(pair, int(EPOCH.timestamp()))
            out.append({"pair": pair, "high": f"{h:.10f}", "low": f"{l:.10f}", "vol": f"{v:.8f}", "last": f"{c:.10f}",
                        "buy": f"{c * 0.999:.10f}", "sell": f"{c * 1.001:.10f}", "open": f"{o:.10f}", "date": int(EPOCH.timestamp())})
        return out
    if path == "/candles":
        symbol, step = q["symbol"], RESOLUTION_S[q["resolution"]]
        if symbol not in BASE_PRICE:
            raise KeyError(symbol)
        start, end = int(q["from"]), int(q["to"])
        first = -(-start // step) * step
        times = list(range(first, end + 1, step))
        if fault == "empty":
            times = []
        if fault == "short":
            times = times[: len(times) // 2]
        rows = [(t, *candle(symbol, t)) for t in times]
        if fault == "dup":
            rows = rows + rows[::3]
            random.Random(7).shuffle(rows)
        return {"t": [r[0] for r in rows], **{k: [f"{r[i]:.10f}" for r in rows] for i, k in enumerate("ohlcv", start=1)}}
    symbol, _, endpoint = path.strip("/").partition("/")
    if symbol not in BASE_PRICE:
        raise KeyError(symbol)
    if endpoint == "orderbook":
        limit = int(q.get("limit", 20))
        mid = BASE_PRICE[symbol]
        tick = 1e-10 if symbol == "PEPE-BRL" else 1.0
        return {
            "asks": [[f"{mid + tick * i:.10f}", f"{1.5 * i:.8f}"] for i in range(1, 51)][:limit],
            "bids": [[f"{mid - tick * i:.10f}", f"{2.0 * i:.8f}"] for i in range(1, 51)][:limit],
            "timestamp": int(EPOCH.timestamp() * 1e9),  # nanoseconds
        }
    if endpoint == "trades":
        limit = min(int(q.get("limit", 1000)), 1000)
        rows = [t for t in trades(symbol) if "from" not in q or t["date"] >= int(q["from"])]
        rows = [t for t in rows if "to" not in q or t["date"] <= int(q["to"])]
        return rows[:limit]
    raise KeyError(path)


CG_COINS = [
    {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "current_price": 350000.0, "market_cap": 6.9e12,
     "total_volume": 1.5e11, "last_updated": "2024-05-01T12:00:00.000Z"},
    {"id": "pepe", "symbol": "pepe", "name": "Pepe", "current_price": 0.0000573, "market_cap": 2.4e10,
     "total_volume": 3.0e9, "last_updated": "2024-05-01T12:00:00.000Z"},
]


def _coingecko(path: str, q: dict) -> object:
    if path == "/coins/markets":
        ids = q.get("ids", "").split(",") if q.get("ids") else None
        rate = 1.0 if q["vs_currency"] == "brl" else 1 / 5.0
        return [{**c, "current_price": c["current_price"] * rate, "market_cap": c["market_cap"] * rate,
                 "total_volume": c["total_volume"] * rate} for c in CG_COINS if ids is None or c["id"] in ids]
    parts = path.strip("/").split("/")  # coins/{id}/market_chart/range
    if len(parts) == 4 and parts[0] == "coins" and parts[2:] == ["market_chart", "range"]:
        coin = next(c for c in CG_COINS if c["id"] == parts[1])
        start, end = int(q["from"]), int(q["to"])
        days = range(-(-start // 86400) * 86400, end + 1, 86400)
        rate = 1.0 if q["vs_currency"] == "brl" else 1 / 5.0
        return {
            "prices": [[d * 1000, coin["current_price"] * rate * (1 + (d // 86400) % 7 / 100)] for d in days],
            "market_caps": [[d * 1000, coin["market_cap"] * rate] for d in days],
            "total_volumes": [[d * 1000, coin["total_volume"] * rate] for d in days],
        }
    raise KeyError(path)


def ptax_rate(day: datetime) -> tuple[float, float]:
    """(compra, venda) of the fixture for a business day."""
    venda = round(5.0 + day.day / 100, 4)
    return venda - 0.0006, venda


def _ptax(q: dict) -> object:
    start = datetime.strptime(q["@dataInicial"].strip("'"), "%m-%d-%Y")
    end = datetime.strptime(q["@dataFinalCotacao"].strip("'"), "%m-%d-%Y")
    out, day = [], start
    while day <= end:
        if day.weekday() < 5:
            compra, venda = ptax_rate(day)
            out.append({"cotacaoCompra": compra, "cotacaoVenda": venda, "dataHoraCotacao": day.strftime("%Y-%m-%d 13:09:29.123")})
        day += timedelta(days=1)
    return {"@odata.context": "https://olinda.bcb.gov.br/olinda/servico/PTAX/versao/v1/odata$metadata#_CotacaoDolarPeriodo", "value": out}
