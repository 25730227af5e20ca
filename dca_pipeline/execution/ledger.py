"""The position/cash ledger in DuckDB: orders, fills and cash entries, written only in transactions.

Every write for a day first deletes that day's rows, so re-running a day replaces it exactly.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dca_pipeline.execution import events, ledger_views
from dca_pipeline.money import to_brl
from dca_pipeline.storage import duck

SCHEMA = "execution"
CASH_SCHEMA = {
    "date": pl.Date,
    "entry_id": pl.String,
    "kind": pl.String,
    "amount_centavos": pl.Int64,
    "amount_brl": pl.Decimal(18, 2),
    "client_order_id": pl.String,
}


def _cash_rows(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [{**r, "amount_brl": to_brl(r["amount_centavos"])} for r in rows], schema=CASH_SCHEMA
    )


def _exists(db: Path, table: str) -> bool:
    return duck.table_exists(db, SCHEMA, table)


def record_orders(db: Path, day: date, orders: pl.DataFrame, contribution_centavos: int) -> pl.DataFrame:
    """Replace the day's orders and its budget contribution; orders already filled keep status `filled`."""
    filled: set[str] = set()
    if _exists(db, "fills"):
        filled = set(duck.query(db, "select client_order_id from execution.fills where date = ?", [day])["client_order_id"].to_list())
    orders = orders.with_columns(
        pl.when(pl.col("client_order_id").is_in(list(filled))).then(pl.lit("filled")).otherwise(pl.col("status")).alias("status")
    )
    contribution = _cash_rows(
        [{"date": day, "entry_id": f"contribution-{day:%Y%m%d}", "kind": "contribution",
          "amount_centavos": contribution_centavos, "client_order_id": None}]
    )
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, SCHEMA, "dca_orders", orders, "date = ?", [day])
        duck.replace_rows(cur, SCHEMA, "cash_ledger", contribution, "date = ? and kind = 'contribution'", [day])
    return orders


def record_fills(db: Path, day: date, fills: pl.DataFrame, status: dict[str, str]) -> None:
    """Replace the day's fills and their cash entries (notional and fee, both negative) and order statuses."""
    entries = []
    for f in fills.iter_rows(named=True):
        cid = f["client_order_id"]
        entries.append({"date": day, "entry_id": f"{cid}-notional", "kind": "buy", "amount_centavos": -f["notional_centavos"], "client_order_id": cid})
        entries.append({"date": day, "entry_id": f"{cid}-fee", "kind": "fee", "amount_centavos": -f["fee_centavos"], "client_order_id": cid})
    cash = _cash_rows(entries)
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, SCHEMA, "fills", fills, "date = ?", [day])
        duck.replace_rows(cur, SCHEMA, "cash_ledger", cash, "date = ? and kind in ('buy', 'fee')", [day])
        for cid, st in status.items():
            cur.execute("update execution.dca_orders set status = ? where client_order_id = ?", [st, cid])


def cash_balance_centavos(db: Path, through: date) -> int:
    """Cash after every ledger entry dated on or before `through` (from the event ledger when it exists)."""
    if events.exists(db):
        return ledger_views.cash_centavos(db, through)
    if not _exists(db, "cash_ledger"):
        return 0
    rows = duck.query(db, "select coalesce(sum(amount_centavos), 0)::bigint as c from execution.cash_ledger where date <= ?", [through])
    return int(rows["c"][0])


def ledger_totals(db: Path, through: date) -> dict[str, int]:
    """Sum of each entry kind (centavos) through a day: contribution (+), buy (−), fee (−)."""
    if not _exists(db, "cash_ledger"):
        return {}
    rows = duck.query(
        db, "select kind, sum(amount_centavos)::bigint as c from execution.cash_ledger where date <= ? group by kind", [through]
    )
    return {k: int(v) for k, v in rows.iter_rows()}


def ledger_totals_by_day(db: Path, first: date, last: date) -> dict[date, tuple[dict[str, int], dict[str, int]]]:
    """For every day of first..last: (`ledger_totals` through the day, the day's own sum of each entry kind), from
    one read of the entries."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if not _exists(db, "cash_ledger"):
        return {d: ({}, {}) for d in days}
    rows = duck.query(  # day null: every entry before `first`
        db, "select case when date >= ? then date end as day, kind, sum(amount_centavos)::bigint as c "
            "from execution.cash_ledger where date <= ? group by all", [first, last])
    before: dict[str, int] = {}
    by_day: dict[date, dict[str, int]] = {}
    for d, kind, c in rows.iter_rows():
        if d is None:
            before[kind] = int(c)
        else:
            by_day.setdefault(d, {})[kind] = int(c)
    out, totals = {}, before
    for d in days:
        own = by_day.get(d, {})
        totals = {**totals, **{k: totals.get(k, 0) + v for k, v in own.items()}}
        out[d] = (totals, own)
    return out


def holdings(db: Path, through: date) -> pl.DataFrame:
    """Quantity and cost basis (average cost) per held symbol from every fill dated on or before `through`."""
    if events.exists(db):
        pos = ledger_views.positions(db, through)
        return pos.filter(pl.col("quantity") != 0).select("symbol", "quantity", "cost_centavos")
    if not _exists(db, "fills"):
        return pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64})
    return duck.query(
        db,
        """select symbol, sum(quantity)::decimal(38, 8) as quantity, sum(notional_centavos)::bigint as cost_centavos
           from execution.fills where date <= ? group by symbol order by symbol""",
        [through],
    )


def has_activity_before(db: Path, day: date) -> bool:
    if not _exists(db, "cash_ledger"):
        return False
    rows = duck.query(db, "select count(*) as n from execution.cash_ledger where date < ?", [day])
    return bool(rows["n"][0])
