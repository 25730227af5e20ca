"""The pre-event tables (execution.dca_orders, fills, cash_ledger) rebuilt for a day or a range of days from the
event ledger, so reports and monitoring that read them keep working; the events stay the source of truth."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.events import TABLE
from dca_pipeline.execution.paper_fill import FILL_SCHEMA
from dca_pipeline.execution.ledger import CASH_SCHEMA, SCHEMA
from dca_pipeline.execution.orders import ORDER_SCHEMA
from dca_pipeline.money import to_brl
from dca_pipeline.storage import duck

LEGACY_STATUS = {"planned": "new", "pending_approval": "new", "approved": "new", "sent": "new", "partially_filled": "new"}


def day_orders(db: Path, day: date) -> pl.DataFrame:
    """The day's planned orders (as recorded) with their current status, in the dca_orders layout."""
    return orders_frame(ledger_views.day_events(db, day))


def day_fills(db: Path, day: date) -> pl.DataFrame:
    """One row per fill of the day's orders (buys: amount = notional + fee), in the fills layout."""
    return fills_frame(ledger_views.day_events(db, day))


def day_cash(db: Path, day: date) -> pl.DataFrame:
    return cash_frame(ledger_views.day_events(db, day))


def orders_frame(events: pl.DataFrame) -> pl.DataFrame:
    """Planned orders with their latest status (an order's events all carry its day) from a run of days' events."""
    if events.is_empty():
        return pl.DataFrame(schema=ORDER_SCHEMA)
    order_ev = events.filter(pl.col("kind") == "order")
    states = dict(order_ev.sort("seq").group_by("client_order_id").agg(pl.col("status").last()).iter_rows())
    rows = []
    for r in order_ev.filter(pl.col("status") == "planned").iter_rows(named=True):
        d = json.loads(r["detail"] or "{}")
        status = states.get(r["client_order_id"], "planned")
        rows.append({"date": r["date"], "symbol": r["symbol"], "side": r["side"], "amount_brl": to_brl(r["amount_centavos"]),
                     "amount_centavos": r["amount_centavos"], "client_order_id": r["client_order_id"],
                     "status": LEGACY_STATUS.get(status, status), "target_weight": d.get("target_weight"),
                     "deficit_brl": d.get("deficit_brl"), "ref_price_brl": d.get("ref_price_brl")})
    return pl.DataFrame(rows, schema=ORDER_SCHEMA).sort("date", "client_order_id")


def fills_frame(events: pl.DataFrame) -> pl.DataFrame:
    if events.is_empty():
        return pl.DataFrame(schema=FILL_SCHEMA)
    brokers = {r["client_order_id"]: json.loads(r["detail"] or "{}").get("broker", "paper")
               for r in events.filter(pl.col("status") == "sent").iter_rows(named=True)}
    fees = {(r["client_order_id"], json.loads(r["detail"])["fill_seq"]): r["amount_centavos"]
            for r in events.filter(pl.col("kind") == "fee").iter_rows(named=True)}
    rows = []
    for r in events.filter(pl.col("kind") == "fill").iter_rows(named=True):
        d = json.loads(r["detail"] or "{}")
        day = r["date"]
        seq = int(r["event_id"].rsplit(":", 1)[1])
        fee = fees[(r["client_order_id"], seq)]
        notional = r["amount_centavos"]
        filled_at = datetime.fromisoformat(d["filled_at"]) if d.get("filled_at") else datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
        rows.append({"date": day, "client_order_id": r["client_order_id"], "symbol": r["symbol"],
                     "quantity": Decimal(r["quantity"]), "price_brl": float(r["price_brl"]), "fee_brl": to_brl(fee),
                     "notional_brl": to_brl(notional), "amount_brl": to_brl(notional + fee), "fee_centavos": fee,
                     "notional_centavos": notional, "amount_centavos": notional + fee, "filled_at": filled_at, "broker": brokers.get(r["client_order_id"], "paper")})
    return pl.DataFrame(rows, schema=FILL_SCHEMA)


def cash_frame(events: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for r in events.filter(pl.col("kind").is_in(["contribution", "fill", "fee"])).iter_rows(named=True) if not events.is_empty() else []:
        cid, day = r["client_order_id"], r["date"]
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
    project_range(db, day, day)


def project_range(db: Path, first: date, last: date) -> None:
    with duck.transaction(db) as cur:
        project_range_in(cur, first, last)


def project_range_in(cur, first: date, last: date) -> pl.DataFrame:  # noqa: ANN001
    """Replace the rows of days first..last of the three tables with what the events of those days say (one read,
    three replacements) with an open transaction's cursor; returns the projected fills."""
    events = cur.execute(f"select * from {TABLE} where date between ? and ? order by seq", [first, last]).pl()
    fills = fills_frame(events)
    duck.replace_rows(cur, SCHEMA, "dca_orders", orders_frame(events), "date between ? and ?", [first, last])
    duck.replace_rows(cur, SCHEMA, "fills", fills, "date between ? and ?", [first, last])
    duck.replace_rows(cur, SCHEMA, "cash_ledger", cash_frame(events), "date between ? and ?", [first, last])
    return fills
