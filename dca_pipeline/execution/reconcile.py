"""Reconciliation: the event ledger's positions, cash and open orders against what the broker reports.

The two sides are independent records: the ledger side comes from the warehouse's events, the broker side
from the broker's own account (paper: its SQLite books, `paper_account`; live: the exchange's balances and
open orders). Quantities are signed (sells reduce a position) and cash is compared in paper mode.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import corporate_actions, ledger_views
from dca_pipeline.execution.paper_account import PaperAccount

DIFF_SCHEMA = {"item": pl.String, "ledger": pl.String, "broker": pl.String, "difference": pl.String}


def reconcile(ledger_positions: dict[str, Decimal], ledger_cash_centavos: int, ledger_open: set[str],
              broker_balances: dict[str, Decimal], broker_open: set[str], quote: str = "BRL",
              check_cash: bool = True) -> pl.DataFrame:
    """One row per difference (empty = reconciled). Positions by base currency (e.g. `BTC`), cash in `quote`,
    open orders by client order id. Broker assets the ledger never held are differences only when non-zero."""
    rows = []
    for asset in sorted(set(ledger_positions) | {a for a, v in broker_balances.items() if a != quote and v != 0}):
        mine, theirs = ledger_positions.get(asset, Decimal(0)), broker_balances.get(asset, Decimal(0))
        if mine != theirs:
            rows.append({"item": f"position {asset}", "ledger": str(mine), "broker": str(theirs), "difference": str(theirs - mine)})
    if check_cash:
        mine = Decimal(ledger_cash_centavos) / 100
        theirs = broker_balances.get(quote, Decimal(0))
        if mine != theirs:
            rows.append({"item": f"cash {quote}", "ledger": str(mine), "broker": str(theirs), "difference": str(theirs - mine)})
    for cid in sorted(ledger_open ^ broker_open):
        rows.append({"item": f"open order {cid}", "ledger": str(cid in ledger_open), "broker": str(cid in broker_open), "difference": "open on one side only"})
    return pl.DataFrame(rows, schema=DIFF_SCHEMA)


def base_positions(positions: pl.DataFrame) -> dict[str, Decimal]:
    """ledger_views.positions → {base currency: quantity} for non-zero holdings (`BTC/BRL` → `BTC`)."""
    return {s.split("/")[0]: Decimal(q) for s, q, *_ in positions.iter_rows() if q != 0}


def ledger_side(db: Path) -> tuple[dict[str, Decimal], int, set[str]]:
    """(positions by base currency, cash centavos, open order ids) from the event ledger."""
    states = ledger_views.order_states(db)
    open_ids = set(states.filter(pl.col("status").is_in(["sent", "partially_filled"]))["client_order_id"].to_list())
    return base_positions(ledger_views.positions(db)), ledger_views.cash_centavos(db), open_ids


def paper_broker_side(db: Path, account: PaperAccount) -> tuple[dict[str, Decimal], set[str]]:
    """(balances incl. BRL, open order ids) from the paper exchange's own account. BRL = the deposits (the
    bank transfers the ledger records as contributions) + what the account's own fills moved."""
    deposits, events = 0, ledger_views.events_frame(db)
    if events.height:
        ev = events.filter(pl.col("kind") == "contribution")
        deposits = int(ev["amount_centavos"].sum()) if ev.height else 0
    # the exchange converts balances itself on a migration's date (execution/corporate_actions.py)
    balances = corporate_actions.venue_balances(account.timed_fills(), events["date"].max()) if events.height else dict(account.positions())
    balances["BRL"] = Decimal(deposits + account.trade_cash_centavos()) / 100
    return balances, account.open_ids()
