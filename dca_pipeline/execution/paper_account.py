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
from datetime import date, datetime
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
        return self.reports([client_order_id]).get(client_order_id)

    def accept(self, order: OrderIntent, report: BrokerReport) -> BrokerReport:
        """Book a new order and its fills atomically; an id already booked keeps its first report."""
        return self.accept_many([(order, report)])[order.client_order_id]

    def accept_many(self, placed: list[tuple[OrderIntent, BrokerReport]]) -> dict[str, BrokerReport]:
        """Book orders and their fills in one transaction, in order; an id already booked keeps its first report.
        Returns what the account holds for each id."""
        if not placed:
            return {}
        with closing(self._connect()) as con:
            con.execute("begin immediate")
            seq = con.execute("select count(*) from orders").fetchone()[0]
            known = {r[0] for r in con.execute(
                f"select client_order_id from orders where client_order_id in ({', '.join('?' * len(placed))})",
                [o.client_order_id for o, _ in placed]).fetchall()}
            for order, report in placed:
                if order.client_order_id in known:
                    con.execute("insert into requests values (?, 'duplicate')", [order.client_order_id])
                    continue
                known.add(order.client_order_id)
                seq += 1
                con.execute("insert into orders values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [order.client_order_id, order.day.isoformat(), order.symbol, order.side, order.amount_centavos,
                             report.status, report.exchange_order_id or f"paper-{seq}", report.reason, seq])
                con.executemany("insert into fills values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                    [order.client_order_id, f.seq, order.symbol, order.side, str(f.quantity), str(f.price), f.notional_centavos,
                     f.fee_centavos, f.liquidity, f.filled_at.isoformat() if f.filled_at else None] for f in report.fills])
                con.execute("insert into requests values (?, 'accepted')", [order.client_order_id])
            con.execute("commit")
        return self.reports([o.client_order_id for o, _ in placed])

    def reports(self, client_order_ids: list[str]) -> dict[str, BrokerReport]:
        """What the exchange holds for each of these ids (ids it never received are left out), in one read."""
        out: dict[str, BrokerReport] = {}
        with closing(self._connect()) as con:
            for i in range(0, len(client_order_ids), 500):
                ids = client_order_ids[i:i + 500]
                marks = ", ".join("?" * len(ids))
                fills: dict[str, list] = {}
                for cid, *f in con.execute(f"select client_order_id, seq, quantity, price, notional_centavos, fee_centavos, liquidity, "
                                           f"filled_at from fills where client_order_id in ({marks}) order by client_order_id, seq", ids):
                    fills.setdefault(cid, []).append(f)
                for cid, status, xid, reason in con.execute(
                        f"select client_order_id, status, exchange_order_id, reason from orders where client_order_id in ({marks})", ids):
                    out[cid] = BrokerReport(cid, status, tuple(
                        BrokerFill(s, Decimal(q), Decimal(p), n, fee, liq, datetime.fromisoformat(at) if at else None)
                        for s, q, p, n, fee, liq, at in fills.get(cid, [])), xid, reason)
        return out

    def orders_since(self, day: date) -> int:
        """How many orders dated `day` or later the account holds (a range run books new days in bulk only when none)."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as con:
            return con.execute("select count(*) from orders where day >= ?", [day.isoformat()]).fetchone()[0]

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
