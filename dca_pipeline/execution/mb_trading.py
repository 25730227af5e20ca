"""Mercado Bitcoin's private trading API v4 as ccxt custom API definitions on the v4 public-data adapter (`MercadoBitcoinV4`).

`POST /authorize` (login/password = API token id/secret) gives a bearer token; accounts, balances and orders live
under `/accounts/{accountId}/...`; an order's `externalId` is our client order id, so an order can always be
found again by it. Credentials come only from the caller (the live broker reads environment variables).
"""
from __future__ import annotations

import json
import time

import ccxt

from dca_pipeline.ingestion.mercado_bitcoin import MercadoBitcoinV4

API = "v4Trading"
STATUS = {"created": "open", "working": "open", "filled": "closed", "cancelled": "canceled", "canceled": "canceled"}


def mb_symbol(symbol: str) -> str:
    """ccxt-style `BTC/BRL` → Mercado Bitcoin's `BTC-BRL`."""
    return symbol.replace("/", "-")


class MercadoBitcoinTrading(MercadoBitcoinV4):
    """The public-data v4 adapter (markets, precision, order books from API v4) plus the v4 private endpoints
    (bearer-token auth) used by the live broker."""

    def describe(self) -> dict:
        return self.deep_extend(
            super().describe(),
            {
                "id": "mercado_v4_trading",
                "urls": {"api": {API: "https://api.mercadobitcoin.net/api/v4"}},
                "api": {
                    API: {
                        "post": {"authorize": 1, "accounts/{accountId}/{symbol}/orders": 3},
                        "get": {
                            "accounts": 1,
                            "accounts/{accountId}/balances": 1,
                            "accounts/{accountId}/{symbol}/orders": 1,
                            "accounts/{accountId}/orders": 1,
                        },
                        "delete": {"accounts/{accountId}/{symbol}/orders/{orderId}": 3},
                    }
                },
            },
        )

    # --- transport -------------------------------------------------------------------------------------------
    def sign(self, path: str, api=["public"], method: str = "GET", params: dict = {}, headers=None, body=None) -> dict:  # noqa: B006, ANN001
        if (api[0] if isinstance(api, list) else api) != API:
            return super().sign(path, api, method, params)
        url = self.urls["api"][API] + "/" + self.implode_params(path, params)
        query = self.omit(params, self.extract_params(path))
        headers = {"Content-Type": "application/json"}
        body = None
        if method in ("GET", "DELETE"):
            if query:
                url += "?" + self.urlencode(query)
        else:
            body = json.dumps(query)
        if path != "authorize":
            headers["Authorization"] = "Bearer " + self._token()
        return {"url": url, "method": method, "body": body, "headers": headers}

    def _call(self, path: str, method: str, params: dict | None = None):  # noqa: ANN202
        return self.request(path, [API], method, params or {})

    def _token(self) -> str:
        """A cached bearer token, renewed a minute before it expires."""
        token, expires = self.options.get("v4Token"), self.options.get("v4TokenExpires", 0)
        if token and time.time() < expires - 60:
            return token
        self.check_required_credentials()
        reply = self._call("authorize", "POST", {"login": self.apiKey, "password": self.secret})
        self.options["v4Token"] = reply["access_token"]
        self.options["v4TokenExpires"] = float(reply.get("expiration") or time.time() + 3600)
        return self.options["v4Token"]

    def account_id(self) -> str:
        if not self.options.get("v4AccountId"):
            accounts = self._call("accounts", "GET")
            if not accounts:
                raise ccxt.AuthenticationError("Mercado Bitcoin returned no accounts for these credentials")
            self.options["v4AccountId"] = accounts[0]["id"]
        return self.options["v4AccountId"]

    # --- unified-style methods ---------------------------------------------------------------------------------
    def fetch_balance(self, params: dict = {}) -> dict:  # noqa: B006
        rows = self._call("accounts/{accountId}/balances", "GET", {"accountId": self.account_id(), **params})
        result: dict = {"info": rows}
        for r in rows:
            result[r["symbol"].upper()] = {"free": self.safe_number(r, "available"), "used": self.safe_number(r, "on_hold"),
                                           "total": self.safe_number(r, "total")}
        return self.safe_balance(result)

    def create_order(self, symbol: str, type: str, side: str, amount: float | None, price: float | None = None, params: dict = {}) -> dict:  # noqa: A002, B006
        """`params`: externalId (our client id), cost (market buys by BRL amount)."""
        request = {"accountId": self.account_id(), "symbol": mb_symbol(symbol), "side": side, "type": type, "async": True, **params}
        if amount is not None:
            request["qty"] = self.number_to_string(amount)
        if price is not None:
            request["limitPrice"] = float(price)
        reply = self._call("accounts/{accountId}/{symbol}/orders", "POST", request)
        return self.safe_order({"id": reply.get("orderId"), "clientOrderId": params.get("externalId"), "symbol": symbol,
                                "type": type, "side": side, "amount": amount, "price": price, "status": "open", "info": reply})

    def fetch_orders_by_client_id(self, client_order_id: str, symbol: str) -> list[dict]:
        rows = self._call("accounts/{accountId}/{symbol}/orders", "GET",
                          {"accountId": self.account_id(), "symbol": mb_symbol(symbol), "externalId": client_order_id})
        return [self.parse_mb_order(r, symbol) for r in rows if r.get("externalId") == client_order_id]

    def fetch_open_orders(self, symbol: str | None = None, since=None, limit=None, params: dict = {}) -> list[dict]:  # noqa: ANN001, B006
        rows = self._call("accounts/{accountId}/orders", "GET", {"accountId": self.account_id(), "status": "working", **params})
        orders = [self.parse_mb_order(r, r.get("instrument", "").replace("-", "/")) for r in rows]
        return [o for o in orders if o["status"] == "open" and (symbol is None or o["symbol"] == symbol)]

    def cancel_order(self, id: str, symbol: str | None = None, params: dict = {}) -> dict:  # noqa: A002, B006
        self._call("accounts/{accountId}/{symbol}/orders/{orderId}", "DELETE",
                   {"accountId": self.account_id(), "symbol": mb_symbol(symbol or ""), "orderId": id, **params})
        return self.safe_order({"id": id, "symbol": symbol, "status": "canceled", "info": {}})

    def parse_mb_order(self, r: dict, symbol: str) -> dict:
        trades = [
            {"id": str(x.get("id")), "price": self.safe_number(x, "price"), "amount": self.safe_number(x, "qty"),
             "takerOrMaker": x.get("liquidity"), "fee": {"rate": self.safe_number(x, "fee_rate"), "currency": "BRL"},
             "timestamp": self.safe_integer(x, "executed_at")}
            for x in r.get("executions") or []
        ]
        return self.safe_order({
            "id": str(r.get("id")), "clientOrderId": r.get("externalId"), "symbol": symbol, "side": r.get("side"),
            "type": r.get("type"), "status": STATUS.get(r.get("status"), r.get("status")), "amount": self.safe_number(r, "qty"),
            "filled": self.safe_number(r, "filledQty"), "average": self.safe_number(r, "avgPrice"),
            "price": self.safe_number(r, "limitPrice"), "info": r, "trades": trades,
            "timestamp": self.safe_timestamp(r, "created_at"),
        })
