"""Post-trade cost analysis: fees and slippage of each order against its arrival price (the reference price
when it was planned). Positive slippage = worse than arrival (paid more on a buy, got less on a sell)."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

TCA_SCHEMA = {
    "client_order_id": pl.String, "symbol": pl.String, "side": pl.String, "arrival_price": pl.Float64,
    "avg_price": pl.Float64, "filled_quantity": pl.Decimal(38, 8), "fee_centavos": pl.Int64,
    "slippage_centavos": pl.Int64, "slippage_bps": pl.Float64, "cost_bps": pl.Float64,
}


def post_trade_costs(orders: pl.DataFrame, arrival: dict[str, float]) -> pl.DataFrame:
    """orders: client_order_id, symbol, side, filled_quantity, filled_centavos, fee_centavos (ledger_views.order_states);
    arrival: client_order_id → arrival price. Orders without fills or arrival price are left out."""
    rows = []
    for r in orders.iter_rows(named=True):
        q, px = r["filled_quantity"], arrival.get(r["client_order_id"])
        if not q or not px:
            continue
        sign = 1 if r["side"] == "buy" else -1
        at_arrival = Decimal(q) * Decimal(repr(px)) * 100
        slip = int(((Decimal(r["filled_centavos"]) - at_arrival) * sign).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        avg = r["filled_centavos"] / 100 / float(q)
        rows.append({
            "client_order_id": r["client_order_id"], "symbol": r["symbol"], "side": r["side"], "arrival_price": px,
            "avg_price": avg, "filled_quantity": q, "fee_centavos": r["fee_centavos"], "slippage_centavos": slip,
            "slippage_bps": sign * (avg / px - 1) * 10_000,
            "cost_bps": (slip + r["fee_centavos"]) / float(at_arrival) * 10_000,
        })
    return pl.DataFrame(rows, schema=TCA_SCHEMA)
