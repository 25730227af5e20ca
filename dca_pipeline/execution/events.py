"""Append-only event ledger (DuckDB table execution.events): the single source of truth for orders, fills and cash.

Every event has a deterministic id (partition date, symbol, leg, fill sequence), so appending the same events
again inserts nothing (`INSERT ... ON CONFLICT DO NOTHING`); money only moves inside transactions.
Identity maintained (integer centavos): contributions + realized P&L = cash + cost of open positions (fees
included in cost and realized P&L, see `ledger_views`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from dca_pipeline.governance import audit
from dca_pipeline.storage import duck

TABLE = "execution.events"
KINDS = ("contribution", "order", "fill", "fee", "cancel", "corporate_action")  # corporate_action: execution/corporate_actions.py
ORDER_STATUSES = (
    "planned", "pending_approval", "approved", "sent", "partially_filled", "filled", "cancelled", "expired", "rejected",
)
TERMINAL = frozenset({"filled", "cancelled", "expired", "rejected"})
# status -> statuses it may move to (a rerun re-appending an older status is a no-op thanks to the id)
TRANSITIONS: dict[str, frozenset[str]] = {
    "": frozenset({"planned"}),
    "planned": frozenset({"pending_approval", "approved", "sent", "rejected", "cancelled"}),
    "pending_approval": frozenset({"approved", "rejected", "cancelled", "expired"}),
    "approved": frozenset({"sent", "rejected", "cancelled", "expired"}),
    "sent": frozenset({"partially_filled", "filled", "cancelled", "expired", "rejected"}),
    "partially_filled": frozenset({"partially_filled", "filled", "cancelled", "expired"}),
}

DDL = f"""
create schema if not exists execution;
create table if not exists {TABLE} (
    event_id varchar primary key,
    seq bigint not null,
    date date not null,
    kind varchar not null,
    client_order_id varchar,
    symbol varchar,
    side varchar,
    status varchar,
    quantity decimal(38, 8),
    price_brl decimal(38, 10),
    amount_centavos bigint,
    cash_centavos bigint not null,
    detail varchar
);
create sequence if not exists execution.event_seq;
"""


class TransitionError(ValueError):
    """An order event would move an order along a transition the state machine does not allow."""


@dataclass(frozen=True)
class Event:
    """One ledger event; `cash_centavos` is its signed effect on cash (contribution +, buy −, sell +, fee −)."""

    event_id: str
    date: date
    kind: str
    client_order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    status: str | None = None
    quantity: Decimal | None = None
    price_brl: Decimal | None = None
    amount_centavos: int | None = None
    cash_centavos: int = 0
    detail: dict = field(default_factory=dict)


_READY: set[str] = set()


def exists(db: Path) -> bool:
    """Whether the events table exists (remembered once seen, which saves a catalog query per call)."""
    if str(Path(db).resolve()) in _READY:
        return True
    if duck.table_exists(db, "execution", "events"):
        _READY.add(str(Path(db).resolve()))
        return True
    return False


def ensure_schema(db: Path) -> None:
    """Create the events table and its sequence once per file per process."""
    key = str(Path(db).resolve())
    if key in _READY:
        return
    with duck.transaction(db) as cur:
        cur.execute(DDL)
    _READY.add(key)


def contribution_event(day: date, centavos: int) -> Event:
    return Event(f"contribution:{day:%Y%m%d}", day, "contribution", amount_centavos=centavos, cash_centavos=centavos)


def order_event(day: date, cid: str, symbol: str, side: str, status: str, amount_centavos: int | None = None,
                suffix: str = "", **detail: object) -> Event:
    """A status change of order `cid`; `suffix` distinguishes repeated statuses (partially_filled after fill n)."""
    if status not in ORDER_STATUSES:
        raise ValueError(f"unknown order status {status!r} for {cid}")
    eid = f"order:{cid}:{status}" + (f":{suffix}" if suffix else "")
    return Event(eid, day, "order", cid, symbol, side, status, amount_centavos=amount_centavos, detail=dict(detail))


def fill_events(day: date, cid: str, symbol: str, side: str, fill_seq: int, quantity: Decimal, price: Decimal,
                notional_centavos: int, fee_centavos: int, **detail: object) -> list[Event]:
    """A fill and its fee: buys take the notional out of cash, sells put it in; the fee always leaves cash."""
    sign = -1 if side == "buy" else 1
    fill = Event(f"fill:{cid}:{fill_seq}", day, "fill", cid, symbol, side, None, quantity, price, notional_centavos,
                 sign * notional_centavos, dict(detail))
    fee = Event(f"fee:{cid}:{fill_seq}", day, "fee", cid, symbol, side, None, None, None, fee_centavos, -fee_centavos,
                {"fill_seq": fill_seq})
    return [fill, fee]


def append_event(db: Path, event: Event) -> bool:
    """Append one event (the single entry point for every state change); True if it was new."""
    return append_events(db, [event]) == 1


def append_events(db: Path, events: Iterable[Event]) -> int:
    """Append events atomically (all or none); events already present are skipped. Returns how many were new.

    Order events are checked against the status machine (a sell beyond the quantity held fails in `positions`).
    """
    events = list(events)
    if not events:
        return 0
    ensure_schema(db)
    with duck.transaction(db) as cur:
        return append_in(cur, events)


def append_in(cur, events: Iterable[Event]) -> int:  # noqa: ANN001
    """`append_events` with an open transaction's cursor (the table must exist: `ensure_schema`), in bulk: one
    read of the ids present, one of the orders' current statuses, one insert of the new events in order (each
    `seq` from the sequence) and one of their audit entries, whatever the number of events."""
    events = list(events)
    for e in events:
        if e.kind not in KINDS:
            raise ValueError(f"unknown event kind {e.kind!r} in {e.event_id}")
    if not events:
        return 0
    present = {r[0] for r in cur.execute(f"select event_id from {TABLE} where event_id in (select unnest(?::VARCHAR[]))",
                                         [[e.event_id for e in events]]).fetchall()}
    new: list[Event] = []
    for e in events:
        if e.event_id not in present:
            present.add(e.event_id)
            new.append(e)
    if not new:
        return 0
    _check_transitions(cur, new)
    seqs = sorted(r[0] for r in cur.execute("select nextval('execution.event_seq') from range(?)", [len(new)]).fetchall())
    rows = {
        "event_id": [e.event_id for e in new], "seq": seqs, "date": [e.date for e in new], "kind": [e.kind for e in new],
        "client_order_id": [e.client_order_id for e in new], "symbol": [e.symbol for e in new], "side": [e.side for e in new],
        "status": [e.status for e in new], "quantity": [None if e.quantity is None else str(e.quantity) for e in new],
        "price_brl": [None if e.price_brl is None else str(e.price_brl) for e in new],
        "amount_centavos": [e.amount_centavos for e in new], "cash_centavos": [e.cash_centavos for e in new],
        "detail": [json.dumps(e.detail, sort_keys=True, default=str) for e in new],
    }
    incoming = pa.table(rows, schema=_ARROW_SCHEMA)  # noqa: F841 - read by name below
    cur.register("__events_in", incoming)
    try:
        cur.execute(f"insert into {TABLE} select event_id, seq, date, kind, client_order_id, symbol, side, status, "
                    "quantity::decimal(38, 8), price_brl::decimal(38, 10), amount_centavos, cash_centavos, detail "
                    "from __events_in order by seq")
    finally:
        cur.unregister("__events_in")
    actor, run_id = audit.current_actor()  # the same transaction: no order state change without its audit entry
    audit.append_many_in(cur, [
        (f"order_{e.status}", e.client_order_id or e.symbol or e.event_id, None,
         {"event_id": e.event_id, "date": e.date, "symbol": e.symbol, "side": e.side, "status": e.status,
          "amount_centavos": e.amount_centavos})
        for e in new if e.kind == "order"] + [
        ("corporate_action", e.symbol or e.event_id, None,  # a migration/airdrop leg: audited in the same transaction
         {"event_id": e.event_id, "date": e.date, "quantity": e.quantity, "cost_centavos": e.amount_centavos, **e.detail})
        for e in new if e.kind == "corporate_action"], actor=actor, run_id=run_id)
    return len(new)


_ARROW_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("seq", pa.int64()), ("date", pa.date32()), ("kind", pa.string()),
    ("client_order_id", pa.string()), ("symbol", pa.string()), ("side", pa.string()), ("status", pa.string()),
    ("quantity", pa.string()), ("price_brl", pa.string()), ("amount_centavos", pa.int64()), ("cash_centavos", pa.int64()),
    ("detail", pa.string()),
])


def _check_transitions(cur, new: list[Event]) -> None:  # noqa: ANN001
    """Each order event against its order's status so far (the table's latest, then the batch's own earlier events)."""
    cids = sorted({e.client_order_id for e in new if e.kind == "order"})
    if not cids:
        return
    current = dict(cur.execute(
        f"select client_order_id, arg_max(status, seq) from {TABLE} where kind = 'order' "
        "and client_order_id in (select unnest(?::VARCHAR[])) group by client_order_id", [cids]).fetchall())
    for e in new:
        if e.kind != "order":
            continue
        now = current.get(e.client_order_id, "")
        if e.status not in TRANSITIONS.get(now, frozenset()):
            raise TransitionError(f"order {e.client_order_id}: {now or '(none)'} -> {e.status} is not allowed")
        current[e.client_order_id] = e.status


def order_status(db: Path, cid: str) -> str | None:
    """The order's latest status, or None when it was never recorded."""
    if not exists(db):
        return None
    rows = duck.query(db, f"select status from {TABLE} where kind = 'order' and client_order_id = ? order by seq desc limit 1", [cid])
    return rows["status"][0] if len(rows) else None
