"""The live broker: orders to Mercado Bitcoin through `MercadoBitcoinTrading`, idempotent by client order id.

Enabled only when config says `broker: live` AND DCA_LIVE_TRADING=1; keys only from DCA_MB_API_KEY /
DCA_MB_API_SECRET. A timed-out or failed send is never simply retried: the order is looked up by its
externalId first, and placed again only if the exchange does not have it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

import ccxt

from dca_pipeline.execution.broker_interface import BrokerFill, BrokerReport, centavos
from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.execution.mb_trading import MercadoBitcoinTrading
from dca_pipeline.execution.paper_book_broker import Book
from dca_pipeline.execution.routing import RoutedBroker, Venue
from dca_pipeline.money import fee_centavos

MARKET_SUFFIX = "-mkt"  # the market order that takes over a limit's remainder at the deadline
MARKET_SEQ_BASE = 1000  # fill numbers of that market order start here


def live_trading_enabled(broker_mode: str) -> bool:
    """Live only when configured AND explicitly opted in through the environment."""
    if broker_mode != "live":
        return False
    if os.environ.get("DCA_LIVE_TRADING") != "1":
        raise PermissionError("broker: live is configured but DCA_LIVE_TRADING=1 is not set: refusing to trade")
    return True


def exchange_from_env(api_url: str | None = None, timeout_ms: int = 10_000, prefix: str = "DCA_MB_",
                      exchange_id: str = "mercadobitcoin") -> MercadoBitcoinTrading:
    """The trading client with credentials from the environment (never from config files).

    During a key rotation both `DCA_MB_API_KEY`/`_SECRET` and `DCA_MB_API_KEY_NEXT`/`_SECRET_NEXT` (or their
    `*_FILE` variants) may be set: the first pair the exchange authorizes is used (governance.secrets).
    Another venue (`exchange_id` any ccxt id, e.g. foxbit) reads `{prefix}API_KEY`/`_SECRET` and is driven through
    ccxt's unified API (`CcxtTrading`)."""
    from dca_pipeline.secrets import SecretError, api_key_pairs, first_working_pair

    try:
        pairs = api_key_pairs(prefix=prefix)
    except SecretError as exc:
        raise PermissionError(str(exc)) from exc
    if not pairs:
        raise PermissionError(f"live trading needs {prefix}API_KEY and {prefix}API_SECRET in the environment")

    def client(pair) -> MercadoBitcoinTrading:  # noqa: ANN001
        options: dict = {"apiKey": pair.api_key, "secret": pair.api_secret, "timeout": timeout_ms, "enableRateLimit": True}
        if exchange_id not in ("mercadobitcoin", "mercado"):
            generic = getattr(ccxt, exchange_id)(options)
            if api_url:
                generic.urls["api"] = {k: api_url for k in (generic.urls.get("api") or {"public": ""})}
            return CcxtTrading(generic)  # type: ignore[return-value]
        if api_url:
            return MercadoBitcoinTrading.with_base_url(api_url, {**options, "urls": {"api": {"v4Trading": api_url}}})
        return MercadoBitcoinTrading(options)

    if len(pairs) == 1 or exchange_id not in ("mercadobitcoin", "mercado"):
        return client(pairs[0])

    def authorized(pair) -> MercadoBitcoinTrading:  # noqa: ANN001
        exchange = client(pair)
        exchange._token()  # POST /authorize: fails for a revoked or not-yet-active pair
        return exchange

    _pair, exchange = first_working_pair(authorized, prefix="DCA_MB_")
    return exchange


@dataclass
class LiveCcxtBroker:
    exchange: MercadoBitcoinTrading
    maker_fee: Decimal
    taker_fee: Decimal
    style: str = "market"  # market | limit_then_market
    limit_minutes: int = 60  # limit_then_market: this long after the exchange accepted the limit, the rest goes to market
    amount_step: Decimal = Decimal("0.00000001")
    name: str = "mercado_bitcoin"
    now: callable = field(default=lambda: datetime.now(timezone.utc))
    quote: callable = None  # symbol -> (best bid, best ask); default: the exchange's order book
    tick: Decimal = Decimal("0.00001")
    inside_ticks: int = 0

    def limit_price(self, order: OrderIntent) -> float:
        """At or inside the spread on our side: bid (+ ticks) for buys, ask (− ticks) for sells, never crossing."""
        if self.quote is not None:
            bid, ask = self.quote(order.symbol)
        else:
            book = self.exchange.fetch_order_book(order.symbol, 5)
            bid, ask = Decimal(str(book["bids"][0][0])), Decimal(str(book["asks"][0][0]))
        if order.side == "buy":
            return float(min(bid + self.inside_ticks * self.tick, ask - self.tick))
        return float(max(ask - self.inside_ticks * self.tick, bid + self.tick))

    def place(self, order: OrderIntent) -> BrokerReport:
        if self.style == "limit_then_market":
            self._send(order, order.client_order_id, "limit", self.limit_price(order))
        else:
            self._send(order, order.client_order_id, "market", None)
        return self.lookup(order) or BrokerReport(order.client_order_id, "open")

    def lookup(self, order: OrderIntent) -> BrokerReport | None:
        """What the exchange has for this client id (and its market follow-up), as one report."""
        found = self.exchange.fetch_orders_by_client_id(order.client_order_id, order.symbol)
        if not found:
            return None
        main = found[0]
        fills = self._fills(main, order.side, 1)
        if main["status"] == "open" and main["type"] == "limit" and self._past_deadline(main):
            self.exchange.cancel_order(main["id"], order.symbol)  # limit expired: the rest goes to market
            main = {**main, "status": "canceled"}
        status = {"closed": "filled", "canceled": "cancelled", "rejected": "rejected"}.get(main["status"], "open")
        if status == "cancelled" and main["type"] == "limit":
            rest = self._remainder(order, fills)
            if rest is not None:
                follow = self._follow_up(rest)
                fills += self._fills(follow, order.side, MARKET_SEQ_BASE + 1) if follow else []
                status = {"closed": "filled", "canceled": "cancelled"}.get(follow["status"], "open") if follow else "open"
        return BrokerReport(order.client_order_id, status, tuple(fills), str(main["id"]))

    # --- internals ----------------------------------------------------------------------------------------------
    def _past_deadline(self, placed: dict) -> bool:
        """The deadline counts from the exchange's own creation time, so reruns never move it."""
        if placed.get("timestamp") is None:
            return False
        created = datetime.fromtimestamp(placed["timestamp"] / 1000, timezone.utc)
        return self.now() >= created + timedelta(minutes=self.limit_minutes)

    def _send(self, order: OrderIntent, cid: str, kind: str, price: float | None) -> None:
        """Create the order; on a timeout or network error, look it up by client id before trying once more."""
        amount, params = self._size(order, kind, price)
        params["externalId"] = cid
        try:
            self.exchange.create_order(order.symbol, kind, order.side, amount, price, params)
        except (ccxt.RequestTimeout, ccxt.NetworkError):
            if self.exchange.fetch_orders_by_client_id(cid, order.symbol):
                return  # it got there: never place it twice
            self.exchange.create_order(order.symbol, kind, order.side, amount, price, params)

    def _size(self, order: OrderIntent, kind: str, price: float | None) -> tuple[float | None, dict]:
        if order.side == "sell":
            return float(order.quantity or 0), {}
        if kind == "market":  # spend the amount; the fee comes on top, so leave room for it
            cost = Decimal(order.amount_centavos) / 100 / (1 + self.taker_fee)
            return None, {"cost": float(cost.quantize(Decimal("0.01"), rounding=ROUND_DOWN))}
        qty = (Decimal(order.amount_centavos) / 100 / (Decimal(repr(price)) * (1 + self.maker_fee))).quantize(self.amount_step, rounding=ROUND_DOWN)
        return float(qty), {}

    def _remainder(self, order: OrderIntent, fills: list[BrokerFill]) -> OrderIntent | None:
        spent = sum(f.notional_centavos + f.fee_centavos for f in fills)
        left = order.amount_centavos - spent
        if order.side == "sell":
            qty = (order.quantity or Decimal(0)) - sum((f.quantity for f in fills), Decimal(0))
            return OrderIntent(order.day, order.client_order_id + MARKET_SUFFIX, order.symbol, "sell", left, qty) if qty > 0 else None
        return OrderIntent(order.day, order.client_order_id + MARKET_SUFFIX, order.symbol, "buy", left) if left >= 100 else None

    def _follow_up(self, rest: OrderIntent) -> dict | None:
        found = self.exchange.fetch_orders_by_client_id(rest.client_order_id, rest.symbol)
        if not found:
            self._send(rest, rest.client_order_id, "market", None)
            found = self.exchange.fetch_orders_by_client_id(rest.client_order_id, rest.symbol)
        return found[0] if found else None

    def _fills(self, order: dict, side: str, first_seq: int) -> list[BrokerFill]:
        out = []
        for i, t in enumerate(order.get("trades") or []):
            qty, price = Decimal(str(t["amount"])), Decimal(str(t["price"]))
            maker = t.get("takerOrMaker") == "maker"
            rate = Decimal(str(t["fee"]["rate"])) if t.get("fee", {}).get("rate") is not None else (self.maker_fee if maker else self.taker_fee)
            notional = centavos(qty * price)
            out.append(BrokerFill(first_seq + i, qty, price, notional, fee_centavos(notional, rate), "maker" if maker else "taker"))
        return out


class CcxtTrading:
    """Any ccxt exchange behind the calls the live broker makes (`create_order` with our client id as `externalId`,
    `fetch_orders_by_client_id`, order book, balance, cancel) through ccxt's unified API (`clientOrderId`). Used for
    routing venues other than Mercado Bitcoin (e.g. foxbit); never tested against the real exchanges."""

    def __init__(self, exchange: ccxt.Exchange) -> None:
        self.exchange = exchange
        self.id = exchange.id

    def create_order(self, symbol: str, type: str, side: str, amount: float | None, price: float | None = None, params: dict = {}) -> dict:  # noqa: A002, B006
        params = dict(params)
        params["clientOrderId"] = params.pop("externalId", None)
        if amount is None and "cost" in params:  # a market buy by BRL amount
            return self.exchange.create_market_buy_order_with_cost(symbol, params.pop("cost"), params)
        return self.exchange.create_order(symbol, type, side, amount, price, params)

    def fetch_orders_by_client_id(self, client_order_id: str, symbol: str) -> list[dict]:
        return [o for o in self.exchange.fetch_orders(symbol) if o.get("clientOrderId") == client_order_id]

    def __getattr__(self, name: str):  # noqa: ANN204 - fetch_order_book, fetch_balance, cancel_order, load_markets, markets
        return getattr(self.exchange, name)


def book_of(exchange, symbol: str, depth: int = 20) -> Book:  # noqa: ANN001
    """The venue's current order book as a routing/paper `Book` (Decimal levels, best first)."""
    ob = exchange.fetch_order_book(symbol, depth)
    side = lambda rows: tuple((Decimal(str(p)), Decimal(str(a))) for p, a, *_ in rows)  # noqa: E731
    return Book(side(ob.get("bids") or []), side(ob.get("asks") or []))


def live_venue(name: str, exchange, broker: LiveCcxtBroker, taker_fee: Decimal, min_order_centavos: int | None = None) -> Venue:  # noqa: ANN001
    """A routing venue (routing.Venue) for a live exchange: its book, taker fee, minimums (the exchange's market
    limits, else the configured minimum), balances and open orders."""
    def market(symbol: str) -> dict:
        exchange.load_markets()
        return (exchange.markets or {}).get(symbol) or {}

    def min_cost(symbol: str) -> int | None:
        v = ((market(symbol).get("limits") or {}).get("cost") or {}).get("min")
        return int(Decimal(str(v)) * 100) if v is not None else min_order_centavos

    def min_amount(symbol: str) -> Decimal | None:
        v = ((market(symbol).get("limits") or {}).get("amount") or {}).get("min")
        return Decimal(str(v)) if v is not None else None

    def balances() -> dict[str, Decimal]:
        return {k: Decimal(str(v)) for k, v in (exchange.fetch_balance().get("total") or {}).items() if v is not None}

    def open_orders() -> set[str]:
        return {o["clientOrderId"] for o in exchange.fetch_open_orders() if o.get("clientOrderId")}

    return Venue(name, broker, lambda symbol: book_of(exchange, symbol), taker_fee, min_cost, min_amount, balances,
                 broker.amount_step, open_orders)


def routed_broker(settings, api_url: str | None = None) -> RoutedBroker:  # noqa: ANN001 - config.Settings
    """The live router over `execution.venues` (in the configured order: ties go to the first)."""
    ex = settings.execution
    venues = []
    for v in ex.venues:
        exchange = exchange_from_env(v.api_url or api_url or None, prefix=v.env_prefix, exchange_id=v.exchange_id)
        maker = v.maker_fee if v.maker_fee is not None else settings.fees.maker
        taker = v.taker_fee if v.taker_fee is not None else settings.fees.taker
        broker = LiveCcxtBroker(exchange, maker, taker, style=ex.order_style, limit_minutes=ex.limit_deadline_minutes,
                                amount_step=ex.amount_step, inside_ticks=ex.limit_inside_ticks, name=v.name)
        min_order = int(v.min_order_brl * 100) if v.min_order_brl is not None else None
        venues.append(live_venue(v.name, exchange, broker, taker, min_order))
    return RoutedBroker(venues)
