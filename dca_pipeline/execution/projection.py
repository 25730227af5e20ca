"""The pre-event tables (execution.dca_orders, fills, cash_ledger) rebuilt for a day from the event ledger,
so reports and monitoring that read them keep working; the events stay the source of truth."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.paper_fill import FILL_SCHEMA
from dca_pipeline.execution.ledger import CASH_SCHEMA, SCHEMA
from dca_pipeline.execution.orders import ORDER_SCHEMA
from dca_pipeline.money import to_brl
from dca_pipeline.storage import duck

LEGACY_STATUS = {"planned": "new", "pending_approval": "new", "approved": "new", "sent": "new", "partially_filled": "new"}


def day_orders(db: Path, day: date) -> pl.DataFrame:
    """The day's planned orders (as recorded) with their current status, in the dca_orders layout."""
    ev = ledger_views.day_events(db, day)
    if ev.is_empty():
        return pl.DataFrame(schema=ORDER_SCHEMA)
    states = dict(ledger_views.order_states(db, day).select("client_order_id", "status").iter_rows())
    rows = []
    for r in ev.filter((pl.col("kind") == "order") & (pl.col("status") == "planned") & (pl.col("date") == day)).iter_rows(named=True):
        d = json.loads(r["detail"] or "{}")
        status = states.get(r["client_order_id"], "planned")
        rows.append({"date": day, "symbol": r["symbol"], "side": r["side"], "amount_brl": to_brl(r["amount_centavos"]),
                     "amount_centavos": r["amount_centavos"], "client_order_id": r["client_order_id"],
                     "status": LEGACY_STATUS.get(status, status), "target_weight": d.get("target_weight"),
                     "deficit_brl": d.get("deficit_brl"), "ref_price_brl": d.get("ref_price_brl")})
    return pl.DataFrame(rows, schema=ORDER_SCHEMA).sort("client_order_id")


def day_fills(db: Path, day: date) -> pl.DataFrame:
    """One row per fill of the day's orders (buys: amount = notional + fee), in the fills layout."""
    ev = ledger_views.day_events(db, day)
    if ev.is_empty():
        return pl.DataFrame(schema=FILL_SCHEMA)
    day_ev = ev.filter(pl.col("date") == day)
    brokers = {r["client_order_id"]: json.loads(r["detail"] or "{}").get("broker", "paper")
               for r in day_ev.filter(pl.col("status") == "sent").iter_rows(named=True)}
    fees = {(r["client_order_id"], json.loads(r["detail"])["fill_seq"]): r["amount_centavos"]
            for r in day_ev.filter(pl.col("kind") == "fee").iter_rows(named=True)}
    rows = []
    for r in day_ev.filter(pl.col("kind") == "fill").iter_rows(named=True):
        d = json.loads(r["detail"] or "{}")
        seq = int(r["event_id"].rsplit(":", 1)[1])
        fee = fees[(r["client_order_id"], seq)]
        notional = r["amount_centavos"]
        filled_at = datetime.fromisoformat(d["filled_at"]) if d.get("filled_at") else datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
        rows.append({"date": day, "client_order_id": r["client_order_id"], "symbol": r["symbol"],
                     "quantity": Decimal(r["quantity"]), "price_brl": float(r["price_brl"]), "fee_brl": to_brl(fee),
                     "notional_brl": to_brl(notional), "amount_brl": to_brl(notional + fee), "fee_centavos": fee,
                     "notional_centavos": notional, "amount_centavos": notional + fee, "filled_at": filled_at, "broker": brokers.get(r["client_order_id"], "paper")})
    return pl.DataFrame(rows, schema=FILL_SCHEMA)


def day_cash(db: Path, day: date) -> pl.DataFrame:
    ev = ledger_views.day_events(db, day)
    rows = []
    for r in ev.filter((pl.col("date") == day) & pl.col("kind").is_in(["contribution", "fill", "fee"])).iter_rows(named=True) if not ev.is_empty() else []:
        cid = r["client_order_id"]
        kind = r["kind"] if r["kind"] != "fill" else r["side"]
        entry = f"contribution-{day:%Y%m%d}" if kind == "contribution" else f"{cid}-{'fee' if kind == 'fee' else 'notional'}" + _seq_suffix(r["event_id"])
        rows.append({"date": day, "entry_id": entry, "kind": kind, "amount_centavos": r["cash_centavos"],
                     "amount_brl": to_brl(r["cash_centavos"]), "client_order_id": cid})
    return pl.DataFrame(rows, schema=CASH_SCHEMA)


def _seq_suffix(event_id: str) -> str:
    seq = event_id.rsplit(":", 1)[1]
    return "" if seq == "1" else f"-{seq}"


def project_day(db: Path, day: date) -> None:
    """Replace the day's rows of the three pre-event tables with what the events say, in one transaction."""
    orders, fills, cash = day_orders(db, day), day_fills(db, day), day_cash(db, day)
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, SCHEMA, "dca_orders", orders, "date = ?", [day])
        duck.replace_rows(cur, SCHEMA, "fills", fills, "date = ?", [day])
        duck.replace_rows(cur, SCHEMA, "cash_ledger", cash, "date = ?", [day])
