"""One ledger protocol, two books: the DuckDB event ledger (production, a backfill) and an in-memory book (the
backtest's sandbox). Both keep cash in integer centavos, quantities as Decimal, positions at average cost
(custo médio: a sell removes cost pro rata, half-even; all of it when the position closes) and the identity
contributions + realized P&L = cash + cost of positions (fees inside cost and realized). One shared test suite runs against both
(dca_pipeline_tests/execution/test_ledger_protocol.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from dca_pipeline.execution import corporate_actions
from dca_pipeline.execution import events as ev
from dca_pipeline.execution import ledger_views

HOLDINGS_SCHEMA = {"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64}


LedgerTotals = ledger_views.Identity  # contributions, realized, cash, cost, fees; `.holds` is the ledger identity


@runtime_checkable
class Ledger(Protocol):
    """What the day loop needs from a book of record. `fills` rows: client_order_id, symbol, side, quantity,
    price_brl, notional_centavos, fee_centavos (broker.paper_fills' layout); `exits` rows: the day core's
    delisting exits (client_order_id, symbol, quantity, price_brl, price_date, proceeds_centavos, fee_centavos)."""

    def contribute(self, day: date, centavos: int) -> None: ...

    def record_fills(self, day: date, fills: pl.DataFrame) -> None: ...

    def record_exits(self, day: date, exits: pl.DataFrame) -> None: ...

    def cash_centavos(self) -> int: ...

    def last_contribution_day(self) -> date | None: ...  # the last day a contribution was credited (None: never)

    def record_corporate_actions(self, day: date, legs: pl.DataFrame) -> None: ...  # corporate_actions.LEG_SCHEMA

    def holdings(self) -> pl.DataFrame: ...  # symbol, quantity, cost_centavos of every open position

    def positions(self) -> pl.DataFrame: ...  # ledger_views.POSITIONS_SCHEMA: + realized_centavos, closed ones too

    def totals(self) -> LedgerTotals: ...


@dataclass
class MemoryLedger:
    """The in-memory book for simulation: the same money rules as the event ledger, no I/O."""

    cash: int = 0
    contributions: int = 0
    fees: int = 0
    quantity: dict[str, Decimal] = field(default_factory=dict)
    cost: dict[str, int] = field(default_factory=dict)
    realized: dict[str, int] = field(default_factory=dict)
    corporate_actions: set[str] = field(default_factory=set)  # ids of the legs booked (a rerun books nothing)
    last_contributed: date | None = None
    # the last holdings frame and the rows it was built from: a day's valuation and the next day's plan read the
    # same book, so the second call returns a copy of the first frame instead of building it again
    _holdings_cache: tuple[list, pl.DataFrame] | None = field(default=None, init=False, repr=False, compare=False)

    def contribute(self, day: date, centavos: int) -> None:
        self.cash += centavos
        self.contributions += centavos
        if centavos:  # as the event ledger, which records no zero contribution
            self.last_contributed = max(day, self.last_contributed or day)

    def last_contribution_day(self) -> date | None:
        return self.last_contributed

    def record_fills(self, day: date, fills: pl.DataFrame) -> None:
        for f in fills.iter_rows(named=True):
            self.fill(f["symbol"], f.get("side") or "buy", Decimal(f["quantity"]), int(f["notional_centavos"]), int(f["fee_centavos"]))

    def record_exits(self, day: date, exits: pl.DataFrame) -> None:
        for x in exits.iter_rows(named=True):
            self.fill(x["symbol"], "sell", Decimal(x["quantity"]), int(x["proceeds_centavos"]), int(x["fee_centavos"]))

    def fill(self, symbol: str, side: str, q: Decimal, notional: int, fee: int) -> None:
        """One fill (or exit) booked at average cost: buys add notional + fee to the cost, sells realize."""
        held, basis = self.quantity.get(symbol, Decimal(0)), self.cost.get(symbol, 0)
        if side == "buy":
            if notional + fee > self.cash:
                raise ValueError(f"buy of {symbol} for {notional + fee} centavos exceeds the cash {self.cash}")
            self.quantity[symbol], self.cost[symbol] = held + q, basis + notional + fee
            self.cash -= notional + fee
        else:
            if q > held:
                raise ValueError(f"sell of {q} {symbol} exceeds the {held} held")
            removed = basis if q == held else int((Decimal(basis) * q / held).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            self.quantity[symbol], self.cost[symbol] = held - q, basis - removed
            self.realized[symbol] = self.realized.get(symbol, 0) + notional - fee - removed
            self.cash += notional - fee
        self.fees += fee

    def record_corporate_actions(self, day: date, legs: pl.DataFrame) -> None:
        """Move quantity and cost per leg (out: the whole holding leaves; in: the successor or airdrop arrives)."""
        for r in legs.iter_rows(named=True):
            key = f"{r['action_id']}:{r['symbol']}:{r['date']}:{r['leg']}"
            if key in self.corporate_actions:
                continue
            self.corporate_actions.add(key)
            sign = -1 if r["leg"] == "out" else 1
            s = r["symbol"]
            self.quantity[s] = self.quantity.get(s, Decimal(0)) + sign * Decimal(r["quantity"])
            self.cost[s] = self.cost.get(s, 0) + sign * int(r["cost_centavos"])

    def cash_centavos(self) -> int:
        return self.cash

    def holdings(self) -> pl.DataFrame:
        rows = [(s, q, self.cost[s]) for s, q in sorted(self.quantity.items()) if q != 0]
        if self._holdings_cache is not None and self._holdings_cache[0] == rows:  # equal rows: an identical frame
            return self._holdings_cache[1].clone()
        frame = pl.DataFrame(rows, schema=HOLDINGS_SCHEMA, orient="row")
        self._holdings_cache = (rows, frame)
        return frame.clone()

    def positions(self) -> pl.DataFrame:
        rows = [(s, self.quantity[s], self.cost[s], self.realized.get(s, 0)) for s in sorted(self.quantity)]
        return pl.DataFrame(rows, schema=ledger_views.POSITIONS_SCHEMA, orient="row")

    def totals(self) -> LedgerTotals:
        return LedgerTotals(self.contributions, sum(self.realized.values()), self.cash, sum(self.cost.values()), self.fees)


class EventLedger:
    """The DuckDB event ledger (execution.events) behind the protocol. The scheduled day's buys and sells reach
    it through the order manager (oms.py: planned → sent → filled, guards at the broker boundary); what this
    class appends itself — contributions, delisting exits, a simulated fill — uses the same event ids, so a
    rerun adds nothing."""

    def __init__(self, db: Path) -> None:
        self.db = Path(db)

    def contribute(self, day: date, centavos: int) -> None:
        if centavos:
            ev.append_events(self.db, [ev.contribution_event(day, centavos)])

    def record_fills(self, day: date, fills: pl.DataFrame) -> None:
        for f in fills.iter_rows(named=True):
            side = f.get("side") or "buy"
            amount = int(f["notional_centavos"]) + int(f["fee_centavos"]) if side == "buy" else int(f["notional_centavos"])
            ev.append_events(self.db, _lifecycle(day, f["client_order_id"], f["symbol"], side, amount, Decimal(f["quantity"]),
                                                 Decimal(repr(f["price_brl"])), int(f["notional_centavos"]), int(f["fee_centavos"]),
                                                 broker=f.get("broker") or "paper"))

    def record_exits(self, day: date, exits: pl.DataFrame) -> None:
        if len(exits):
            ev.append_events(self.db, exit_events(day, exits))

    def record_corporate_actions(self, day: date, legs: pl.DataFrame) -> None:
        """The legs as `corporate_action` events, one transaction, audited (execution/corporate_actions.py)."""
        ev.append_events(self.db, corporate_actions.events_for(legs))

    def cash_centavos(self) -> int:
        return ledger_views.cash_centavos(self.db)

    def last_contribution_day(self, before: date | None = None) -> date | None:
        return ledger_views.last_contribution_day(self.db, before)

    def holdings(self) -> pl.DataFrame:
        return self.positions().filter(pl.col("quantity") != 0).select(list(HOLDINGS_SCHEMA))

    def positions(self) -> pl.DataFrame:
        return ledger_views.positions(self.db)

    def totals(self) -> LedgerTotals:
        return ledger_views.identity(self.db)


def exit_events(day: date, exits: pl.DataFrame) -> list[ev.Event]:
    """The events of the day's delisting exits (execution/day.py EXIT_SCHEMA rows): each a whole sell lifecycle."""
    out: list[ev.Event] = []
    for x in exits.iter_rows(named=True):
        out += _lifecycle(day, x["client_order_id"], x["symbol"], "sell", int(x["proceeds_centavos"]), Decimal(x["quantity"]),
                          Decimal(repr(x["price_brl"])), int(x["proceeds_centavos"]), int(x["fee_centavos"]), broker="delisting",
                          planned={"reason": x["reason"], "policy": x["policy"], "price_date": str(x["price_date"]), "quantity": str(x["quantity"])})
    return out


def _lifecycle(day: date, cid: str, symbol: str, side: str, amount: int, quantity: Decimal, price: Decimal, notional: int,
               fee: int, broker: str, planned: dict | None = None) -> list[ev.Event]:
    """planned → sent → fill + fee → filled, in one batch (one transaction)."""
    return [
        ev.order_event(day, cid, symbol, side, "planned", amount, **(planned or {})),
        ev.order_event(day, cid, symbol, side, "sent", broker=broker),
        *ev.fill_events(day, cid, symbol, side, 1, quantity, price, notional, fee),
        ev.order_event(day, cid, symbol, side, "filled"),
    ]
