"""Paper broker that fills against order-book depth: a limit at (or inside) the spread that fills from the
trade tape at the maker fee, then a market order for the rest at the deadline that walks the book (taker fee).
Partial fills when the book is thin; every fill rounded to the amount step and to the centavo. Stateless:
`paper_account.AccountBroker` keeps the exchange's orders and fills across processes.

`BookOrBarsBroker` is the paper broker of the execution assets: an order whose symbol has a stored order-book
snapshot in the execution window fills from that book (`books_from_snapshots`: the first snapshot of the window,
the trades printed after it as the tape), every other order from bars (`DailyPaperBroker`, the backtest's model)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

import polars as pl

from dca_pipeline.execution.broker_interface import BrokerFill, BrokerReport, centavos
from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.money import fee_centavos


@dataclass(frozen=True)
class Book:
    """Price levels best first: bids descending, asks ascending, (price, quantity) as Decimals."""

    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    tape: tuple[tuple[Decimal, Decimal], ...] = ()  # trades printed after our order rests (price, quantity)


@dataclass
class BookPaperBroker:
    books: dict[str, Book]
    maker_fee: Decimal
    taker_fee: Decimal
    style: str = "limit_then_market"  # or "market"
    tick: Decimal = Decimal("0.00001")
    inside_ticks: int = 0
    amount_step: Decimal = Decimal("0.00000001")
    name: str = "paper_book"

    def place(self, order: OrderIntent) -> BrokerReport:
        book = self.books.get(order.symbol)
        if book is None or not (book.asks if order.side == "buy" else book.bids):
            return BrokerReport(order.client_order_id, "expired", reason=f"empty book for {order.symbol}")
        sim = _Fill(order, self)
        if self.style == "limit_then_market":
            sim.rest_limit(book)
        sim.walk(book)
        return BrokerReport(order.client_order_id, sim.final_status(), tuple(sim.fills), f"paper-{order.client_order_id}",
                            "" if sim.done() else "book too thin: remainder expired")

    def lookup(self, order: OrderIntent) -> BrokerReport | None:  # noqa: ARG002
        """A stateless matching engine remembers nothing: the account in front of it (`AccountBroker`) does."""
        return None


class _Fill:
    """Fills one order: budget (buy, centavos incl. fee) or quantity (sell) consumed level by level."""

    def __init__(self, order: OrderIntent, broker: BookPaperBroker) -> None:
        self.order, self.b = order, broker
        self.budget = order.amount_centavos
        self.quantity_left = order.quantity or Decimal(0)
        self.fills: list[BrokerFill] = []

    def done(self) -> bool:
        if self.order.side == "buy":
            return not self.fills or self.budget < 1 or self._qty_for(self.fills[-1].price, Decimal("1e30"), self.b.taker_fee) == 0
        return self.quantity_left == 0

    def final_status(self) -> str:
        if self.fills and self.done():
            return "filled"
        return "expired"

    def rest_limit(self, book: Book) -> None:
        """Limit at the best bid (+ inside ticks, never crossing the ask) for buys; mirrored for sells."""
        b = self.b
        if self.order.side == "buy":
            bid = book.bids[0][0] if book.bids else book.asks[0][0] - b.tick
            limit = min(bid + b.inside_ticks * b.tick, book.asks[0][0] - b.tick)
            hits = [(p, q) for p, q in book.tape if p <= limit]
        else:
            ask = book.asks[0][0] if book.asks else book.bids[0][0] + b.tick
            limit = max(ask - b.inside_ticks * b.tick, book.bids[0][0] + b.tick)
            hits = [(p, q) for p, q in book.tape if p >= limit]
        for _, q in hits:
            self._take(limit, q, b.maker_fee, "maker")

    def walk(self, book: Book) -> None:
        for price, q in (book.asks if self.order.side == "buy" else book.bids):
            if self.done() and self.fills:
                return
            self._take(price, q, self.b.taker_fee, "taker")

    def _qty_for(self, price: Decimal, available: Decimal, rate: Decimal) -> Decimal:
        """Largest step-rounded quantity ≤ available whose notional + fee fits the remaining budget."""
        q = min(available, Decimal(self.budget) / 100 / (price * (1 + rate))).quantize(self.b.amount_step, rounding=ROUND_DOWN)
        while q > 0 and centavos(q * price) + fee_centavos(centavos(q * price), rate) > self.budget:
            q -= self.b.amount_step
        return max(q, Decimal(0))

    def _take(self, price: Decimal, available: Decimal, rate: Decimal, liquidity: str) -> None:
        if self.order.side == "buy":
            q = self._qty_for(price, available, rate)
        else:
            q = min(available, self.quantity_left).quantize(self.b.amount_step, rounding=ROUND_DOWN)
        if q <= 0:
            return
        notional = centavos(q * price)
        fee = fee_centavos(notional, rate)
        if notional == 0:
            return
        if self.order.side == "buy":
            self.budget -= notional + fee
        else:
            self.quantity_left -= q
        self.fills.append(BrokerFill(len(self.fills) + 1, q, price, notional, fee, liquidity))


def books_from_snapshots(levels: pl.DataFrame, trades: pl.DataFrame, start: datetime, end: datetime) -> dict[str, Book]:
    """Per symbol, the first stored snapshot at or after `start` and before `end` (order_book rows: symbol, ts, side
    bid|ask, level, price, amount) with the trades printed after it and before `end` as its tape (trades rows:
    symbol, ts, price, amount). Symbols without a snapshot in the window are absent."""
    out: dict[str, Book] = {}
    if levels.is_empty():
        return out
    window = levels.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    if window.is_empty():
        return out
    first = window.group_by("symbol").agg(pl.col("ts").min().alias("first"))
    snap = window.join(first, on="symbol").filter(pl.col("ts") == pl.col("first"))
    for (symbol,), g in snap.partition_by("symbol", as_dict=True).items():
        at = g["first"][0]
        side = lambda name: tuple((Decimal(repr(p)), Decimal(repr(a))) for p, a in  # noqa: E731
                                  g.filter(pl.col("side") == name).sort("level").select("price", "amount").iter_rows())
        tape: tuple = ()
        if not trades.is_empty():
            t = trades.filter((pl.col("symbol") == symbol) & (pl.col("ts") > at) & (pl.col("ts") < end)).sort("ts")
            tape = tuple((Decimal(repr(p)), Decimal(repr(a))) for p, a in t.select("price", "amount").iter_rows())
        out[symbol] = Book(side("bid"), side("ask"), tape)
    return out


class BookOrBarsBroker:
    """The order book's broker for symbols that have a book in the window, the bar broker for the rest."""

    name = "paper"

    def __init__(self, books: BookPaperBroker, bars) -> None:  # noqa: ANN001 - a Broker (DailyPaperBroker)
        self.books, self.bars = books, bars

    def place(self, order: OrderIntent) -> BrokerReport:
        return (self.books if order.symbol in self.books.books else self.bars).place(order)

    def place_many(self, orders: list[OrderIntent]) -> dict[str, BrokerReport]:
        """`place` for each order: the bar engine's in one call (execution/range_book.py), the book's one by one."""
        on_bars = [o for o in orders if o.symbol not in self.books.books]
        out = self.bars.place_many(on_bars) if on_bars else {}
        out.update({o.client_order_id: self.books.place(o) for o in orders if o.symbol in self.books.books})
        return {o.client_order_id: out[o.client_order_id] for o in orders}

    def lookup(self, order: OrderIntent) -> BrokerReport | None:  # noqa: ARG002 - stateless, as both engines
        return None
