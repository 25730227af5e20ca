"""Order management: record the day's plan as events, then move each order through approval, the pre-send
guards and the broker, recording every fill. Safe to rerun or resume after a crash at any point: event ids
are deterministic, an order is marked `sent` before the broker call, and a `sent` order is looked up by its
client id before it is ever placed again."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import events as ev
from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.broker_interface import Broker, BrokerReport
from dca_pipeline.execution.guards import GuardContext, OrderIntent, pre_send_guards


def record_plan(db: Path, day: date, contribution_centavos: int, orders: pl.DataFrame) -> int:
    """Append the day's contribution and its planned orders in one transaction (nothing new on a rerun)."""
    return ev.append_events(db, plan_events(day, contribution_centavos, orders))


def plan_events(day: date, contribution_centavos: int, orders: pl.DataFrame) -> list[ev.Event]:
    """The day's contribution (the plan's first event: a day with it is a recorded plan) and each order `planned`."""
    batch = [ev.contribution_event(day, contribution_centavos)] if contribution_centavos else []
    for o in orders.iter_rows(named=True):
        detail = {k: o[k] for k in ("target_weight", "deficit_brl", "ref_price_brl", "quantity") if o.get(k) is not None}
        batch.append(ev.order_event(day, o["client_order_id"], o["symbol"], o["side"], "planned", int(o["amount_centavos"]), **detail))
    return batch


def planned_orders(db: Path, day: date) -> list[OrderIntent]:
    """The day's orders as recorded when planned (the ledger, not a fresh plan, is what gets executed)."""
    if not duck_has_events(db):
        return []
    frame = ledger_views.day_events(db, day).filter((pl.col("kind") == "order") & (pl.col("status") == "planned"))
    out = []
    for r in frame.sort("client_order_id").iter_rows(named=True):
        d = json.loads(r["detail"] or "{}")
        qty = Decimal(str(d["quantity"])) if d.get("quantity") is not None else None
        out.append(OrderIntent(day, r["client_order_id"], r["symbol"], r["side"], int(r["amount_centavos"]), qty, d.get("ref_price_brl")))
    return out


def duck_has_events(db: Path) -> bool:
    return ev.exists(db)


def execute_day(db: Path, day: date, broker: Broker, context: GuardContext, approval: str = "auto") -> pl.DataFrame:
    """Advance every order of `day` as far as it can go; returns the day's order states."""
    for order in planned_orders(db, day):
        advance_order(db, order, broker, context, approval)
    return ledger_views.order_states(db, day)


def advance_order(db: Path, order: OrderIntent, broker: Broker, context: GuardContext, approval: str = "auto") -> str:
    """One order one step further at a time until it is final or waits (for approval or the venue)."""
    status = ev.order_status(db, order.client_order_id)
    if status == "planned" and approval == "manual":
        _status(db, order, "pending_approval")
        return "pending_approval"
    if status in ("planned", "approved"):
        return send_order(db, order, broker, context, auto_approve=status == "planned")
    if status in ("sent", "partially_filled"):
        report = broker.lookup(order) or broker.place(order)  # never place again what the venue already has
        return record_report(db, order, report)
    return status or "unknown"


def send_order(db: Path, order: OrderIntent, broker: Broker, context: GuardContext, auto_approve: bool = False) -> str:
    """The broker boundary: guards, then `sent` (write-ahead, with the auto-approval if any), then the venue."""
    reasons = pre_send_guards(order, context)
    if reasons:
        _status(db, order, "rejected", reasons=reasons)
        return "rejected"
    route = broker.route(order).detail() if hasattr(broker, "route") else {}  # routing.RoutedBroker: venue and reason
    ev.append_events(db, sent_events(order, broker.name, auto_approve, **route))
    return record_report(db, order, broker.place(order))


def rejected_event(order: OrderIntent, reasons: list[str]) -> ev.Event:
    return _event(order, "rejected", reasons=reasons)


def sent_events(order: OrderIntent, broker_name: str, auto_approve: bool, **route: str) -> list[ev.Event]:
    """What is durable before an order reaches the venue: its auto-approval (if any) and `sent` (with the routed
    venue and its reason, when a router chose one)."""
    return ([_event(order, "approved", approved_by="auto")] if auto_approve else []) + [_event(order, "sent", broker=broker_name, **route)]


def record_report(db: Path, order: OrderIntent, report: BrokerReport) -> str:
    """Append the report's new fills (each with its fee and a partially_filled mark) and its final status in
    one transaction; fills already recorded are skipped by id."""
    ev.append_events(db, report_events(order, report))
    return ev.order_status(db, order.client_order_id) or report.status


def report_events(order: OrderIntent, report: BrokerReport) -> list[ev.Event]:
    """The venue's report as events: each fill with its fee (and a partially_filled mark), then a final status."""
    batch = []
    for i, f in enumerate(report.fills):
        batch += ev.fill_events(order.day, order.client_order_id, order.symbol, order.side, f.seq, f.quantity, f.price,
                                f.notional_centavos, f.fee_centavos, liquidity=f.liquidity, filled_at=f.filled_at,
                                **({"venue": report.venue} if report.venue else {}))
        if not (report.status == "filled" and i == len(report.fills) - 1):
            batch.append(_event(order, "partially_filled", suffix=str(f.seq)))
    if report.status in ("filled", "expired", "cancelled", "rejected"):
        batch.append(_event(order, report.status, reason=report.reason, exchange_order_id=report.exchange_order_id))
    return batch


def approve(db: Path, client_order_ids: list[str], approver: str = "user") -> list[str]:
    """Approve orders waiting in pending_approval; returns those approved now."""
    return _decide(db, client_order_ids, "approved", approver)


def reject(db: Path, client_order_ids: list[str], approver: str = "user") -> list[str]:
    return _decide(db, client_order_ids, "rejected", approver)


def pending_ids(db: Path, day: date) -> list[str]:
    states = ledger_views.order_states(db, day)
    return states.filter(pl.col("status") == "pending_approval")["client_order_id"].to_list()


def _decide(db: Path, ids: list[str], status: str, approver: str) -> list[str]:
    states = {r["client_order_id"]: r for r in ledger_views.order_states(db).iter_rows(named=True)}
    done = []
    for cid in ids:
        r = states.get(cid)
        if r is None:
            raise ValueError(f"unknown client order id {cid!r}")
        if r["status"] != "pending_approval":
            continue
        ev.append_event(db, ev.order_event(r["date"], cid, r["symbol"], r["side"], status, approved_by=approver))
        done.append(cid)
    return done


def _event(order: OrderIntent, status: str, suffix: str = "", **detail: object) -> ev.Event:
    return ev.order_event(order.day, order.client_order_id, order.symbol, order.side, status, suffix=suffix, **detail)


def _status(db: Path, order: OrderIntent, status: str, **detail: object) -> None:
    ev.append_event(db, _event(order, status, **detail))
