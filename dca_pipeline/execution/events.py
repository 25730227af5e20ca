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
    inserted = 0
    with duck.transaction(db) as cur:
        ids = [e.event_id for e in events]
        marks = ", ".join("?" * len(ids))
        present = {r[0] for r in cur.execute(f"select event_id from {TABLE} where event_id in ({marks})", ids).fetchall()}
        for e in events:
            if e.kind not in KINDS:
                raise ValueError(f"unknown event kind {e.kind!r} in {e.event_id}")
            if e.event_id in present:
                continue
            present.add(e.event_id)
            if e.kind == "order":
                _check_transition(cur, e)
            cur.execute(
                f"insert into {TABLE} values (?, nextval('execution.event_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "on conflict do nothing",
                [e.event_id, e.date, e.kind, e.client_order_id, e.symbol, e.side, e.status, e.quantity, e.price_brl,
                 e.amount_centavos, e.cash_centavos, json.dumps(e.detail, sort_keys=True, default=str)],
            )
            inserted += 1
            if e.kind == "order":  # the same transaction: no order state change without its audit entry
                actor, run_id = audit.current_actor()
                audit.append_in(
                    cur, f"order_{e.status}", e.client_order_id or e.symbol or e.event_id, actor=actor, run_id=run_id,
                    after={"event_id": e.event_id, "date": e.date, "symbol": e.symbol, "side": e.side, "status": e.status,
                           "amount_centavos": e.amount_centavos},
                )
            elif e.kind == "corporate_action":  # a migration/airdrop leg: audited in the same transaction
                actor, run_id = audit.current_actor()
                audit.append_in(cur, "corporate_action", e.symbol or e.event_id, actor=actor, run_id=run_id,
                                after={"event_id": e.event_id, "date": e.date, "quantity": e.quantity,
                                       "cost_centavos": e.amount_centavos, **e.detail})
    return inserted


def _check_transition(cur, e: Event) -> None:  # noqa: ANN001
    rows = cur.execute(
        f"select status from {TABLE} where kind = 'order' and client_order_id = ? order by seq desc limit 1",
        [e.client_order_id],
    ).fetchall()
    current = rows[0][0] if rows else ""
    if e.status not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"order {e.client_order_id}: {current or '(none)'} -> {e.status} is not allowed")


def order_status(db: Path, cid: str) -> str | None:
    """The order's latest status, or None when it was never recorded."""
    if not exists(db):
        return None
    rows = duck.query(db, f"select status from {TABLE} where kind = 'order' and client_order_id = ? order by seq desc limit 1", [cid])
    return rows["status"][0] if len(rows) else None
