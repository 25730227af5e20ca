"""Corporate actions on the book: a migrated, renamed or redenominated coin's holding carries on as its successor,
and an airdrop adds a new holding, each booked as an audited ledger event (kind `corporate_action`).

- continuing actions (migration, rename, redenomination, multiplier; table in ingestion/corporate_actions.py):
  an `out` leg removes the whole holding of the old symbol with its cost, an `in` leg adds ratio × quantity of
  the new symbol with the **same cost basis** (custo médio carried: no sale, no realized P&L, no cash). Applied
  on the first day on or after the effective date that the holding exists (a missed day catches up).
- airdrop: on the effective date only, an `in` leg of ratio × the source quantity held, at zero cost
  (Receita Federal: an airdrop's acquisition cost is zero).

The ledger identity contributions + realized = cash + cost is untouched by construction (cost moves from one
symbol to the other, or zero cost is added). The month's targets follow the same map, so buys of MATIC/BRL
planned for September 2024 go to POL/BRL from the 4th.

`apply_day` is the one entry point the day paths call (execution/day.py `simulate_day`, the `dca_orders` asset).
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

import polars as pl

from dca_pipeline.execution import events as ev
from dca_pipeline.ingestion.corporate_actions import CONTINUING, load_corporate_actions, successor_map


class Books(Protocol):
    """What `apply_day` needs of a ledger (both ledger_protocol books have it)."""

    def record_corporate_actions(self, day: date, legs: pl.DataFrame) -> None: ...

KIND = "corporate_action"
QUANTUM = Decimal("0.00000001")  # the ledger's quantity precision; credited quantities are truncated to it
LEG_SCHEMA = {
    "date": pl.Date, "action_id": pl.String, "kind": pl.String, "symbol": pl.String, "leg": pl.String,
    "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64, "ratio": pl.Float64, "reason": pl.String,
}


HOLDINGS_SCHEMA = {"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64}
_NO_LEGS = pl.DataFrame(schema=LEG_SCHEMA)  # `.clear()` copies it in ≈1 µs, pl.DataFrame(schema=...) takes ≈100+


def _split(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote


def _join(base: str, quote: str) -> str:
    return f"{base}/{quote}" if quote else base


def holding_legs(day: date, holdings: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """The day's corporate-action legs for `holdings` (symbol, quantity, cost_centavos), in table order; a later
    action sees the holdings after the earlier ones (LUNA → LUNC, then the LUNA2 airdrop on the LUNC held)."""
    held = {s: (Decimal(q), int(c)) for s, q, c in holdings[["symbol", "quantity", "cost_centavos"]].iter_rows() if q}
    rows: list[dict] = []
    for a in actions.iter_rows(named=True):
        eff = a["effective_date"]
        if a["kind"] in CONTINUING:
            if eff is not None and eff > day:
                continue
        elif eff != day:  # airdrops: on their date only
            continue
        ratio = Decimal(repr(a["ratio"]))
        for symbol in sorted(s for s in held if _split(s)[0] == a["from_base"]):
            q, cost = held[symbol]
            target = _join(a["to_base"], _split(symbol)[1])
            credited = (q * ratio).quantize(QUANTUM, rounding=ROUND_DOWN)
            common = {"date": day, "action_id": a["action_id"], "kind": a["kind"], "ratio": a["ratio"]}
            if a["kind"] in CONTINUING:
                why = f"{a['kind']} {a['from_base']} -> {a['to_base']} x{a['ratio']:g} effective {eff or 'always'}: cost basis carried"
                rows.append({**common, "symbol": symbol, "leg": "out", "quantity": q, "cost_centavos": cost, "reason": why})
                rows.append({**common, "symbol": target, "leg": "in", "quantity": credited, "cost_centavos": cost, "reason": why})
                del held[symbol]
                old_q, old_c = held.get(target, (Decimal(0), 0))
                held[target] = (old_q + credited, old_c + cost)
            elif credited > 0:
                why = f"airdrop of {a['to_base']}: {a['ratio']:g} per {a['from_base']} held, zero cost"
                rows.append({**common, "symbol": target, "leg": "in", "quantity": credited, "cost_centavos": 0, "reason": why})
                old_q, old_c = held.get(target, (Decimal(0), 0))
                held[target] = (old_q + credited, old_c)
    return pl.DataFrame(rows, schema=LEG_SCHEMA) if rows else _NO_LEGS.clear()


def _in_book_form(holdings: pl.DataFrame, costs: bool = False) -> bool:
    """Whether `holdings` already is what normalising it yields: exactly HOLDINGS_SCHEMA's columns and types,
    symbols strictly increasing, no zero or null quantity (`costs`: no null cost either). Then selecting,
    dropping zero quantities, sorting by symbol and casting (or rebuilding it row by row) change nothing."""
    if holdings.columns != list(HOLDINGS_SCHEMA) or holdings.dtypes != list(HOLDINGS_SCHEMA.values()):
        return False
    symbols = holdings["symbol"].to_list()
    if any(a is None or b is None or a >= b for a, b in zip(symbols, symbols[1:])) or None in symbols[:1]:
        return False
    if not all(q is not None and q != 0 for q in holdings["quantity"].to_list()):
        return False
    return not costs or holdings["cost_centavos"].null_count() == 0


def apply_legs(holdings: pl.DataFrame, legs: pl.DataFrame) -> pl.DataFrame:
    """Holdings after the legs (what the book shows once they are booked), same columns as `holdings`."""
    if legs.is_empty() and _in_book_form(holdings, costs=True):  # the rebuild below would give the same frame
        return holdings
    held = {s: (Decimal(q), int(c)) for s, q, c in holdings[["symbol", "quantity", "cost_centavos"]].iter_rows()}
    for s, leg, q, c in legs[["symbol", "leg", "quantity", "cost_centavos"]].iter_rows():
        old_q, old_c = held.get(s, (Decimal(0), 0))
        sign = -1 if leg == "out" else 1
        held[s] = (old_q + sign * Decimal(q), old_c + sign * int(c))
    rows = [(s, q, c) for s, (q, c) in sorted(held.items()) if q]
    return pl.DataFrame(rows, schema=HOLDINGS_SCHEMA, orient="row")


def remap_targets(targets: pl.DataFrame, actions: pl.DataFrame, day: date) -> pl.DataFrame:
    """The month's targets with every symbol whose coin continued as another by `day` renamed to it (weights of
    both summed if both were targets)."""
    succ = successor_map(actions, day)
    if targets.is_empty() or not any(_split(s)[0] in succ for s in targets["symbol"].to_list()):
        return targets
    mapping = {s: _join(succ[_split(s)[0]][0], _split(s)[1]) for s in targets["symbol"].unique().to_list() if _split(s)[0] in succ}
    renamed = targets.with_columns(pl.col("symbol").replace(mapping))
    if renamed["symbol"].is_duplicated().any():
        others = [c for c in targets.columns if c not in ("symbol", "weight")]
        renamed = renamed.group_by("symbol", maintain_order=True).agg(pl.col("weight").sum(), *(pl.col(c).first() for c in others))
        renamed = renamed.select(targets.columns)
    return renamed


def events_for(legs: pl.DataFrame) -> list[ev.Event]:
    """Ledger events of the legs: positions replay an `out` leg as a sale at its cost (no realized P&L) and an
    `in` leg as a purchase at the carried cost; neither moves cash. Ids are deterministic (a rerun adds nothing)."""
    out = []
    for r in legs.iter_rows(named=True):
        side = "sell" if r["leg"] == "out" else "buy"
        eid = f"corp:{r['action_id']}:{r['symbol']}:{r['date']:%Y%m%d}:{r['leg']}"
        out.append(ev.Event(eid, r["date"], KIND, None, r["symbol"], side, None, Decimal(r["quantity"]), None,
                            int(r["cost_centavos"]), 0,
                            {"action_id": r["action_id"], "action_kind": r["kind"], "leg": r["leg"], "ratio": r["ratio"],
                             "reason": r["reason"]}))
    return out


def apply_day(book: Books, day: date, holdings: pl.DataFrame, targets: pl.DataFrame,
              actions: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Book the day's corporate actions on `book` (holdings = its positions before the day) and return
    (holdings after them, the targets remapped, the legs booked)."""
    actions = load_corporate_actions() if actions is None else actions
    bases = set(actions["from_base"].to_list())
    if not any(_split(x)[0] in bases for x in holdings["symbol"].to_list() + targets["symbol"].to_list()):
        # no coin held or targeted is the subject of any action: no legs, targets as they are (the daily common case)
        if _in_book_form(holdings):  # as the ledgers give them (MemoryLedger.holdings): nothing to normalise
            return holdings, targets, _NO_LEGS.clear()
        held = holdings.select("symbol", "quantity", "cost_centavos").filter(pl.col("quantity") != 0).sort("symbol")
        return held.cast(HOLDINGS_SCHEMA), targets, _NO_LEGS.clear()  # type: ignore[arg-type]
    legs = holding_legs(day, holdings, actions)
    if len(legs):
        book.record_corporate_actions(day, legs)
    return apply_legs(holdings, legs), remap_targets(targets, actions, day), legs


__all__ = ["KIND", "LEG_SCHEMA", "apply_day", "apply_legs", "events_for", "holding_legs", "remap_targets", "venue_balances"]


def venue_balances(fills: list[tuple], as_of: date, actions: pl.DataFrame | None = None) -> dict[str, Decimal]:
    """What an exchange's balances become when it applies the same actions itself (as Binance converted MATIC to
    POL, and credited the LUNA2 airdrop): fills (symbol, side, quantity, filled_at ISO or None) replayed in time
    order, each action applied at 00:00 UTC of its effective date (after the fills stamped at that instant),
    up to `as_of`. Base currency → quantity, zeros dropped (the paper broker side of reconciliation)."""
    from datetime import datetime, time, timezone

    actions = load_corporate_actions() if actions is None else actions
    steps: list[tuple] = []
    for symbol, side, q, at in fills:
        when = datetime.fromisoformat(at) if at else datetime.min.replace(tzinfo=timezone.utc)
        steps.append((when, 0, len(steps), ("fill", symbol.split("/")[0], side, Decimal(q))))
    for i, a in enumerate(actions.iter_rows(named=True)):
        eff = a["effective_date"]
        if eff is not None and eff > as_of:
            continue
        when = datetime.combine(eff, time(), tzinfo=timezone.utc) if eff else datetime.min.replace(tzinfo=timezone.utc)
        steps.append((when, 1, i, ("action", a)))
    held: dict[str, Decimal] = {}
    for *_, step in sorted(steps, key=lambda s: s[:3]):
        if step[0] == "fill":
            _, base, side, q = step
            held[base] = held.get(base, Decimal(0)) + (q if side == "buy" else -q)
            continue
        a = step[1]
        q = held.get(a["from_base"], Decimal(0))
        if not q:
            continue
        credited = (q * Decimal(repr(a["ratio"]))).quantize(QUANTUM, rounding=ROUND_DOWN)
        if a["kind"] in CONTINUING:
            del held[a["from_base"]]
        held[a["to_base"]] = held.get(a["to_base"], Decimal(0)) + credited
    return {k: v for k, v in held.items() if v != 0}
