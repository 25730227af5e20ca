"""The paper exchange's own books: orders by client order id, their fills, and the account balances they
imply, in a SQLite file of its own ($DCA_HOME/broker/paper.sqlite), apart from the warehouse and its ledger.

An exchange accepts a client order id once: `AccountBroker.place` with a known id returns the order the
account already holds (it is never executed twice), whatever happened to the client in between. The
simulator behind it (`DailyPaperBroker`, `BookPaperBroker`) is the matching engine and keeps no state.
Reconciliation reads this account as the broker side, independent of the ledger's events.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from dca_pipeline.execution.broker_interface import Broker, BrokerFill, BrokerReport
from dca_pipeline.execution.guards import OrderIntent

DDL = """
create table if not exists orders (
    client_order_id text primary key, day text not null, symbol text not null, side text not null,
    amount_centavos integer not null, status text not null, exchange_order_id text, reason text not null,
    accepted_seq integer not null
);
create table if not exists fills (
    client_order_id text not null references orders(client_order_id), seq integer not null,
    symbol text not null, side text not null, quantity text not null, price text not null,
    notional_centavos integer not null, fee_centavos integer not null, liquidity text not null, filled_at text,
    primary key (client_order_id, seq)
);
create table if not exists requests (client_order_id text not null, outcome text not null);
"""


@dataclass(frozen=True)
class PaperAccount:
    """The exchange-side store; every write is one SQLite transaction."""

    path: Path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("pragma journal_mode=wal")
        con.executescript(DDL)
        return con

    def report(self, client_order_id: str) -> BrokerReport | None:
        """What the exchange holds for this id (None: it never received it)."""
        with closing(self._connect()) as con:
            row = con.execute("select status, exchange_order_id, reason from orders where client_order_id = ?", [client_order_id]).fetchone()
            if row is None:
                return None
            fills = con.execute("select seq, quantity, price, notional_centavos, fee_centavos, liquidity, filled_at from fills "
                                "where client_order_id = ? order by seq", [client_order_id]).fetchall()
        return BrokerReport(client_order_id, row[0], tuple(
            BrokerFill(s, Decimal(q), Decimal(p), n, f, liq, datetime.fromisoformat(at) if at else None)
            for s, q, p, n, f, liq, at in fills), row[1], row[2])

    def accept(self, order: OrderIntent, report: BrokerReport) -> BrokerReport:
        """Book a new order and its fills atomically; an id already booked keeps its first report."""
        with closing(self._connect()) as con:
            con.execute("begin immediate")
            if con.execute("select 1 from orders where client_order_id = ?", [order.client_order_id]).fetchone():
                con.execute("insert into requests values (?, 'duplicate')", [order.client_order_id])
                con.execute("commit")
                return self.report(order.client_order_id)  # type: ignore[return-value]
            seq = con.execute("select count(*) from orders").fetchone()[0] + 1
            con.execute("insert into orders values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [order.client_order_id, order.day.isoformat(), order.symbol, order.side, order.amount_centavos,
                         report.status, report.exchange_order_id or f"paper-{seq}", report.reason, seq])
            for f in report.fills:
                con.execute("insert into fills values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [order.client_order_id, f.seq, order.symbol, order.side, str(f.quantity), str(f.price),
                             f.notional_centavos, f.fee_centavos, f.liquidity, f.filled_at.isoformat() if f.filled_at else None])
            con.execute("insert into requests values (?, 'accepted')", [order.client_order_id])
            con.execute("commit")
        return self.report(order.client_order_id)  # type: ignore[return-value]

    def accepted_counts(self) -> dict[str, int]:
        """Client order id → how many times the exchange accepted (executed) it; exactly once is correct."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as con:
            return dict(con.execute("select client_order_id, count(*) from requests where outcome = 'accepted' group by 1").fetchall())

    def positions(self) -> dict[str, Decimal]:
        """Signed quantity per base currency from the account's fills (buys +, sells −), zeros dropped."""
        out: dict[str, Decimal] = {}
        for symbol, side, q, *_ in self._fills():
            base = symbol.split("/")[0]
            out[base] = out.get(base, Decimal(0)) + (Decimal(q) if side == "buy" else -Decimal(q))
        return {k: v for k, v in out.items() if v != 0}

    def timed_fills(self) -> list[tuple]:
        """(symbol, side, quantity, filled_at ISO or None) of every fill, in order (corporate_actions.venue_balances)."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            return con.execute("select symbol, side, quantity, filled_at from fills order by rowid").fetchall()

    def trade_cash_centavos(self) -> int:
        """Cash the account's trades moved: − buy notional + sell notional − every fee."""
        return sum((-n if side == "buy" else n) - fee for _, side, _, n, fee in self._fills())

    def open_ids(self) -> set[str]:
        with closing(self._connect()) as con:
            return {r[0] for r in con.execute("select client_order_id from orders where status = 'open'").fetchall()}

    def _fills(self) -> list[tuple]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            return con.execute("select symbol, side, quantity, notional_centavos, fee_centavos from fills order by rowid").fetchall()

    def dump(self) -> str:
        """Orders and fills as sorted JSON (for comparing two accounts)."""
        with closing(self._connect()) as con:
            orders = con.execute("select client_order_id, symbol, side, amount_centavos, status from orders order by 1").fetchall()
            fills = con.execute("select client_order_id, seq, quantity, price, notional_centavos, fee_centavos from fills order by 1, 2").fetchall()
        return json.dumps({"orders": orders, "fills": fills})


class AccountBroker:
    """A stateless simulator behind a persistent account: each client order id is executed at most once."""

    def __init__(self, engine: Broker, account: PaperAccount) -> None:
        self.engine, self.account = engine, account
        self.name = engine.name

    def place(self, order: OrderIntent) -> BrokerReport:
        known = self.account.report(order.client_order_id)
        if known is not None:
            return known
        return self.account.accept(order, self.engine.place(order))

    def lookup(self, order: OrderIntent) -> BrokerReport | None:
        return self.account.report(order.client_order_id)
