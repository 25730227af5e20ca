"""A loopback Mercado Bitcoin v4 private API (127.0.0.1, ephemeral port) for the live-broker tests.

Market orders fill at once at `price` (one taker execution); limit orders rest until `fill_limits` is set.
`hang_first_create` makes the first order creation succeed but answer only after `hang_seconds` (a timeout).
With `asks` (price, quantity levels) the server also answers the public v4 `symbols` and `{symbol}/orderbook`
calls, market buys walk those asks (one execution per level) and every fill moves `balances`.
"""
from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ACCOUNT = "acc-1"
TOKEN = "tok-123"


class MbServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, price: Decimal = Decimal("100"), fee_rate: str = "0.007",
                 asks: list[tuple[str, str]] | None = None, bids: list[tuple[str, str]] | None = None) -> None:
        self.price, self.fee_rate = price, fee_rate
        self.asks, self.bids = asks, bids or []
        self.orders: list[dict] = []
        self.creates = 0
        self.hang_first_create, self.hang_seconds = False, 1.5
        self.balances = {"BRL": Decimal("0")}
        self.lock = threading.Lock()
        self.unauthorized = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def create(self, symbol: str, body: dict) -> dict:
        with self.lock:
            self.creates += 1
            oid = f"o{self.creates}"
            order = {"id": oid, "externalId": body.get("externalId"), "instrument": symbol, "side": body["side"],
                     "type": body["type"], "status": "working", "qty": body.get("qty"), "limitPrice": body.get("limitPrice"),
                     "filledQty": "0", "avgPrice": None, "executions": [], "created_at": int(time.time())}
            if body["type"] == "market" and self.asks is not None and "cost" in body:
                self._walk_asks(order, Decimal(str(body["cost"])))
            elif body["type"] == "market":
                qty = (Decimal(str(body["cost"])) / self.price).quantize(Decimal("0.00000001")) if "cost" in body else Decimal(body["qty"])
                order.update(status="filled", qty=str(qty), filledQty=str(qty), avgPrice=str(self.price),
                             executions=[{"id": f"{oid}-1", "price": str(self.price), "qty": str(qty), "fee_rate": self.fee_rate,
                                          "liquidity": "taker", "executed_at": 1}])
            self.orders.append(order)
            return order

    def _walk_asks(self, order: dict, cost: Decimal) -> None:
        """A market buy of `cost` BRL through the asks, best first; the base balance grows, BRL shrinks by cost + fee."""
        left, total = cost, Decimal(0)
        for i, (p, q) in enumerate(self.asks):
            price, qty = Decimal(p), Decimal(q)
            take = min(qty, (left / price).quantize(Decimal("0.00000001"), rounding="ROUND_DOWN"))
            if take <= 0:
                break
            left -= take * price
            total += take
            order["executions"].append({"id": f"{order['id']}-{i + 1}", "price": p, "qty": str(take), "fee_rate": self.fee_rate,
                                        "liquidity": "taker", "executed_at": 1})
        base = order["instrument"].split("-")[0]
        self.balances[base] = self.balances.get(base, Decimal(0)) + total
        spent = sum(Decimal(e["price"]) * Decimal(e["qty"]) for e in order["executions"])
        self.balances["BRL"] = self.balances.get("BRL", Decimal(0)) - spent * (1 + Decimal(self.fee_rate))
        order.update(status="filled", qty=str(total), filledQty=str(total))


class _Handler(BaseHTTPRequestHandler):
    server: MbServer

    def _reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.server.unauthorized += 1
            self._reply(401, {"code": "UNAUTHORIZED", "message": "bad token"})
            return False
        return True

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        parts = urlparse(self.path).path.strip("/").split("/")
        if parts == ["authorize"]:
            ok = body.get("login") == "key" and body.get("password") == "secret"
            return self._reply(200 if ok else 401, {"access_token": TOKEN, "expiration": time.time() + 3600} if ok else {"message": "no"})
        if not self._authorized():
            return None
        if len(parts) == 4 and parts[0] == "accounts" and parts[3] == "orders":
            order = self.server.create(parts[2], body)
            if self.server.hang_first_create and self.server.creates == 1:
                time.sleep(self.server.hang_seconds)  # created, but the answer comes too late
            return self._reply(200, {"orderId": order["id"]})
        return self._reply(404, {"message": "unknown"})

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        parts, query = url.path.strip("/").split("/"), parse_qs(url.query)
        if self.server.asks is not None and parts == ["symbols"]:  # public market data (no token)
            return self._reply(200, {"symbol": ["A-BRL"], "base-currency": ["A"], "currency": ["BRL"], "minmovement": [1],
                                     "pricescale": [100], "exchange-listed": [True], "exchange-traded": [True]})
        if self.server.asks is not None and len(parts) == 2 and parts[1] == "orderbook":
            return self._reply(200, {"asks": [list(x) for x in self.server.asks], "bids": [list(x) for x in self.server.bids],
                                     "timestamp": int(time.time() * 1e9)})
        if not self._authorized():
            return None
        if parts == ["accounts"]:
            return self._reply(200, [{"id": ACCOUNT, "name": "main", "type": "live", "currency": "BRL"}])
        if parts[-1] == "balances":
            return self._reply(200, [{"symbol": s, "available": str(v), "on_hold": "0", "total": str(v)} for s, v in self.server.balances.items()])
        if len(parts) == 4 and parts[3] == "orders":
            ext = query.get("externalId", [None])[0]
            return self._reply(200, [o for o in self.server.orders if o["instrument"] == parts[2] and (ext is None or o["externalId"] == ext)])
        if len(parts) == 3 and parts[2] == "orders":
            return self._reply(200, [o for o in self.server.orders if o["status"] == "working"])
        return self._reply(404, {"message": "unknown"})

    def do_DELETE(self) -> None:  # noqa: N802
        if not self._authorized():
            return None
        oid = self.path.strip("/").split("/")[-1]
        for o in self.server.orders:
            if o["id"] == oid:
                o["status"] = "cancelled"
        return self._reply(200, {})

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass
