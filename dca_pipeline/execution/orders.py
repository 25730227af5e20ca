"""Daily DCA order planning: spend available cash on the most underweight targets, never below the minimum."""
from __future__ import annotations

from datetime import date

import polars as pl

from dca_pipeline.money import to_brl

ORDER_SCHEMA = {
    "date": pl.Date,
    "symbol": pl.String,
    "side": pl.String,
    "amount_brl": pl.Decimal(18, 2),
    "amount_centavos": pl.Int64,
    "client_order_id": pl.String,
    "status": pl.String,
    "target_weight": pl.Float64,
    "deficit_brl": pl.Float64,
    "ref_price_brl": pl.Float64,
}


def client_order_id(day: date, symbol: str, side: str = "buy") -> str:
    """Deterministic id: one order per day, symbol and side, so a retried day can never double-buy."""
    return f"dca-{day:%Y%m%d}-{symbol.replace('/', '-')}-{side}"


def plan_dca_orders(
    day: date,
    targets: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    cash_centavos: int,
    min_order_centavos: int,
) -> pl.DataFrame:
    """Buy orders for `day`.

    targets: symbol, weight; holdings: symbol, quantity; prices: symbol, close (BRL).
    The post-trade portfolio value T = holdings value + cash; each target's deficit is weight × T minus
    its current value. Cash goes to the largest deficits first, each order at least the minimum
    (an order may exceed a small deficit to reach the minimum); leftover cash is carried forward.
    """
    px = dict(zip(prices["symbol"].to_list(), prices["close"].to_list()))
    qty = {s: float(q) for s, q in zip(holdings["symbol"].to_list(), holdings["quantity"].to_list())} if len(holdings) else {}
    held_value = sum(q * px.get(s, 0.0) for s, q in qty.items())
    total = held_value + cash_centavos / 100
    rows: list[dict] = []
    deficits = []
    for symbol, weight in zip(targets["symbol"].to_list(), targets["weight"].to_list()):
        if symbol not in px or weight <= 0:
            continue
        deficit = weight * total - qty.get(symbol, 0.0) * px[symbol]
        if deficit > 0:
            deficits.append((deficit, symbol, weight))
    deficits.sort(key=lambda t: (-t[0], t[1]))
    remaining = cash_centavos
    for deficit, symbol, weight in deficits:
        if remaining < min_order_centavos:
            break
        want = max(int(deficit * 100), min_order_centavos)
        amount = min(remaining, want)
        remaining -= amount
        rows.append(
            {
                "date": day,
                "symbol": symbol,
                "side": "buy",
                "amount_brl": to_brl(amount),
                "amount_centavos": amount,
                "client_order_id": client_order_id(day, symbol),
                "status": "new",
                "target_weight": weight,
                "deficit_brl": round(deficit, 2),
                "ref_price_brl": px[symbol],
            }
        )
    return pl.DataFrame(rows, schema=ORDER_SCHEMA)


def total_ordered_centavos(orders: pl.DataFrame) -> int:
    return int(sum(orders["amount_centavos"].to_list())) if len(orders) else 0

