"""Smart order routing across the configured venues that list the pair in BRL (Mercado Bitcoin first; other ccxt
exchanges such as Foxbit where configured): each order goes to the venue with the best expected net price after
its taker fee, walking its order book's depth, among the venues whose minimums the order meets.

Pure core: `quote_venue` prices one order on one venue's book with the order-book paper broker's own depth walk
(`paper_book_broker.BookPaperBroker`, market style: the venue's taker fee, the amount step, partial fills on a thin
book), `choose_venue` ranks the quotes — complete fills before partial ones, then the most coins for the amount
(a buy) or the most BRL net of fees (a sell), ties to the configured order — and says why in one sentence.

`RoutedBroker` is the broker in front of the venues' brokers: `route(order)` decides once per client order id (the
order manager records the venue and the reason on the `sent` event before the order leaves), `place` sends it to
that venue, `lookup` asks every venue for the client id (after a crash, the venue that has it answers).
Balances and reconciliation per venue: `venue_positions` (the ledger's fills by the venue recorded on them),
`reconcile_venues` (each venue's own balances against them) and `open_order_differences`; `reconcile_router` is
what the `reconciliation` asset calls when live trading has venues configured.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.broker_interface import Broker, BrokerReport
from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.execution.paper_book_broker import Book, BookPaperBroker
from dca_pipeline.execution.reconcile import DIFF_SCHEMA, reconcile

QUOTE_SCHEMA = {"venue": pl.String, "eligible": pl.Boolean, "complete": pl.Boolean, "quantity": pl.Decimal(38, 8),
                "gross_centavos": pl.Int64, "fee_centavos": pl.Int64, "net_centavos": pl.Int64, "net_price": pl.Float64,
                "taker_fee": pl.Float64, "note": pl.String}


@dataclass(frozen=True)
class Quote:
    """One order priced on one venue: `quantity` bought (a sell: sold), BRL `gross` (notional) and `fee`; `net` is
    what the order pays (a buy: gross + fee) or receives (a sell: gross − fee); `net_price` = net / quantity."""

    venue: str
    eligible: bool
    side: str = "buy"
    complete: bool = False
    quantity: Decimal = Decimal(0)
    gross_centavos: int = 0
    fee_centavos: int = 0
    taker_fee: Decimal = Decimal(0)
    note: str = ""

    @property
    def net_centavos(self) -> int:
        return self.gross_centavos + self.fee_centavos if self.side == "buy" else self.gross_centavos - self.fee_centavos

    @property
    def net_price(self) -> float | None:
        return float(Decimal(self.net_centavos) / 100 / self.quantity) if self.quantity else None


@dataclass(frozen=True)
class Route:
    venue: str | None
    reason: str
    quotes: tuple[Quote, ...] = ()

    def detail(self) -> dict[str, str]:
        return {"venue": self.venue or "", "route_reason": self.reason}

    def table(self) -> pl.DataFrame:
        return pl.DataFrame([{"venue": q.venue, "eligible": q.eligible, "complete": q.complete, "quantity": q.quantity,
                              "gross_centavos": q.gross_centavos, "fee_centavos": q.fee_centavos, "net_centavos": q.net_centavos,
                              "net_price": q.net_price, "taker_fee": float(q.taker_fee), "note": q.note} for q in self.quotes],
                            schema=QUOTE_SCHEMA)


def quote_venue(order: OrderIntent, venue: str, book: Book | None, taker_fee: Decimal, min_cost_centavos: int | None = None,
                min_amount: Decimal | None = None, amount_step: Decimal = Decimal("0.00000001")) -> Quote:
    """Price `order` on `venue`: walk its book at its taker fee (the order-book paper broker's walk), after its
    minimums (order value in BRL, quantity in coins)."""
    buy = order.side == "buy"
    if book is None or not (book.asks if buy else book.bids):
        return Quote(venue, False, order.side, taker_fee=taker_fee, note=f"no {'asks' if buy else 'bids'} for {order.symbol}")
    best = (book.asks if buy else book.bids)[0][0]
    value = order.amount_centavos if buy else int((order.quantity or 0) * best * 100)
    if min_cost_centavos is not None and value < min_cost_centavos:
        return Quote(venue, False, order.side, taker_fee=taker_fee, note=f"below the venue minimum R${min_cost_centavos / 100:.2f}")
    if min_amount is not None:
        qty = order.quantity if not buy else Decimal(order.amount_centavos) / 100 / best
        if qty is not None and qty < min_amount:
            return Quote(venue, False, order.side, taker_fee=taker_fee, note=f"below the venue minimum of {min_amount} {order.symbol.split('/')[0]}")
    walk = BookPaperBroker({order.symbol: book}, taker_fee, taker_fee, style="market", amount_step=amount_step).place(order)
    q = sum((f.quantity for f in walk.fills), Decimal(0))
    gross, fee = sum(f.notional_centavos for f in walk.fills), sum(f.fee_centavos for f in walk.fills)
    if not q:
        return Quote(venue, False, order.side, taker_fee=taker_fee, note="book too thin for any fill")
    return Quote(venue, True, order.side, walk.status == "filled", q, gross, fee, taker_fee, "" if walk.status == "filled" else "partial: book too thin")


def choose_venue(order: OrderIntent, quotes: list[Quote]) -> Route:
    """The venue with the best expected net price among the eligible quotes (complete fills first), and why."""
    eligible = [q for q in quotes if q.eligible]
    if not eligible:
        why = "; ".join(f"{q.venue}: {q.note}" for q in quotes) or "no venue configured"
        return Route(None, f"no venue can take the order: {why}", tuple(quotes))
    buy = order.side == "buy"
    # a buy: most coins for its amount, i.e. the lowest net price; a sell: most BRL for its quantity, the highest
    key = (lambda q: (q.complete, q.quantity / Decimal(max(q.net_centavos, 1)))) if buy else (lambda q: (q.complete, q.net_centavos))
    best = max(eligible, key=key)  # max keeps the first of equals: ties go to the configured order
    others = [q for q in quotes if q is not best]

    def say(q: Quote) -> str:
        if not q.eligible:
            return f"{q.venue} {q.note}"
        extra = "" if q.complete else ", partial"
        return f"{q.venue} {q.net_price:.8g} (taker {q.taker_fee:%}{extra})"

    unit = f"BRL per {order.symbol.split('/')[0]} {'paid' if buy else 'received'} after fees"
    reason = f"best net price: {say(best)} {unit}"
    if others:
        reason += "; vs " + ", ".join(say(q) for q in others)
    return Route(best.venue, reason, tuple(quotes))


@dataclass
class Venue:
    """A place to send orders: its broker, its order book per symbol, fees and minimums (None: none known)."""

    name: str
    broker: Broker
    book: Callable[[str], Book | None]
    taker_fee: Decimal
    min_cost_centavos: Callable[[str], int | None] = field(default=lambda _s: None)
    min_amount: Callable[[str], Decimal | None] = field(default=lambda _s: None)
    balances: Callable[[], dict[str, Decimal]] | None = None
    amount_step: Decimal = Decimal("0.00000001")
    open_orders: Callable[[], set[str]] | None = None  # client order ids open on the venue (None: not known)


class RoutedBroker:
    """Routes each order to its best venue (decided once per client order id) and sends it there."""

    name = "routed"

    def __init__(self, venues: list[Venue]) -> None:
        if not venues:
            raise ValueError("routing needs at least one venue")
        self.venues = {v.name: v for v in venues}
        self.routes: dict[str, Route] = {}

    def route(self, order: OrderIntent) -> Route:
        if order.client_order_id not in self.routes:
            quotes = []
            for v in self.venues.values():
                try:
                    book = v.book(order.symbol)
                except Exception as exc:  # noqa: BLE001 - a venue that cannot quote is skipped, with its error
                    quotes.append(Quote(v.name, False, order.side, taker_fee=v.taker_fee, note=f"no quote: {type(exc).__name__}: {exc}"))
                    continue
                quotes.append(quote_venue(order, v.name, book, v.taker_fee, v.min_cost_centavos(order.symbol),
                                          v.min_amount(order.symbol), v.amount_step))
            self.routes[order.client_order_id] = choose_venue(order, quotes)
        return self.routes[order.client_order_id]

    def place(self, order: OrderIntent) -> BrokerReport:
        route = self.route(order)
        if route.venue is None:
            return BrokerReport(order.client_order_id, "rejected", reason=route.reason)
        report = self.venues[route.venue].broker.place(order)
        return replace(report, venue=route.venue, route_reason=route.reason)

    def lookup(self, order: OrderIntent) -> BrokerReport | None:
        for v in self.venues.values():
            found = v.broker.lookup(order)
            if found is not None:
                return replace(found, venue=v.name)
        return None


def venue_positions(fills: pl.DataFrame) -> dict[str, dict[str, Decimal]]:
    """{venue: {base currency: signed quantity}} from fills (venue, symbol, side, quantity)."""
    out: dict[str, dict[str, Decimal]] = {}
    for venue, symbol, side, q in fills.select("venue", "symbol", "side", "quantity").iter_rows():
        book = out.setdefault(venue or "", {})
        base = symbol.split("/")[0]
        book[base] = book.get(base, Decimal(0)) + (Decimal(q) if side == "buy" else -Decimal(q))
    return {v: {k: q for k, q in b.items() if q != 0} for v, b in out.items()}


def ledger_fills_by_venue(db: Path) -> pl.DataFrame:
    """The event ledger's fills with the venue recorded on each (venue, symbol, side, quantity)."""
    events = ledger_views.events_frame(db)
    schema = {"venue": pl.String, "symbol": pl.String, "side": pl.String, "quantity": pl.Decimal(38, 8)}
    if events.is_empty():
        return pl.DataFrame(schema=schema)
    fills = events.filter(pl.col("kind") == "fill")
    venue = fills["detail"].map_elements(lambda d: json.loads(d or "{}").get("venue", ""), return_dtype=pl.String)
    return fills.with_columns(venue.alias("venue")).select("venue", "symbol", "side", pl.col("quantity").cast(pl.Decimal(38, 8)))


def reconcile_venues(ledger: dict[str, dict[str, Decimal]], venues: dict[str, dict[str, Decimal]]) -> pl.DataFrame:
    """Per venue, its positions in the ledger against its own balances (cash not compared: an account holds more
    than the pipeline's money); one row per difference with a `venue` column, empty = reconciled."""
    frames = []
    for name in sorted(set(ledger) | set(venues)):
        diffs = reconcile(ledger.get(name, {}), 0, set(), venues.get(name, {}), set(), check_cash=False)
        frames.append(diffs.with_columns(pl.lit(name).alias("venue")))
    return pl.concat(frames) if frames else pl.DataFrame(schema={**DIFF_SCHEMA, "venue": pl.String})


def reconcile_router(db: Path, router: RoutedBroker, quote: str = "BRL", ledger_open: set[str] | None = None) -> pl.DataFrame:
    """Every venue's coin balances against the ledger's fills on it (`reconcile_venues`). Fills recorded before
    routing was on carry no venue and appear under venue ''. With `ledger_open` (the ledger's open client order
    ids) also the open orders: an order open on a venue and not in the ledger is a difference of that venue, one
    open in the ledger and on no venue a difference of venue ''."""
    ledger = venue_positions(ledger_fills_by_venue(db))
    balances = {name: {k: q for k, q in v.balances().items() if k != quote}
                for name, v in router.venues.items() if v.balances is not None}
    diffs = reconcile_venues(ledger, balances)
    if ledger_open is None:
        return diffs
    venue_open = {name: v.open_orders() for name, v in router.venues.items() if v.open_orders is not None}
    return pl.concat([diffs, open_order_differences(ledger_open, venue_open)])


def open_order_differences(ledger_open: set[str], venue_open: dict[str, set[str]]) -> pl.DataFrame:
    """Open orders per venue against the ledger's (DIFF_SCHEMA + venue): open on a venue only, or in the ledger only."""
    rows = []
    for name in sorted(venue_open):
        for cid in sorted(venue_open[name] - ledger_open):
            rows.append({"item": f"open order {cid}", "ledger": "False", "broker": "True", "difference": "open on the venue only", "venue": name})
    anywhere = set().union(*venue_open.values()) if venue_open else set()
    for cid in sorted(ledger_open - anywhere):
        rows.append({"item": f"open order {cid}", "ledger": "True", "broker": "False", "difference": "open in the ledger only", "venue": ""})
    return pl.DataFrame(rows, schema={**DIFF_SCHEMA, "venue": pl.String})
