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


SHORTFALL_SCHEMA = {
    "date": pl.Date, "client_order_id": pl.String, "symbol": pl.String, "side": pl.String, "model": pl.String,
    "decision_price": pl.Float64, "avg_price": pl.Float64, "filled_quantity": pl.Decimal(38, 8),
    "ordered_centavos": pl.Int64, "traded_centavos": pl.Int64, "fee_centavos": pl.Int64,
    "shortfall_centavos": pl.Int64, "shortfall_bps": pl.Float64,
}


def implementation_shortfall(orders: pl.DataFrame, fills: pl.DataFrame, model: str) -> pl.DataFrame:
    """Implementation shortfall of each filled order against its decision price (the reference price it was
    planned at, `ref_price_brl`): what the order cost beyond trading its filled quantity at the decision price,
    fees included. Buy: (notional + fee) − quantity × decision price; sell: quantity × decision price −
    (notional − fee); in centavos (half-even) and in bps of quantity × decision price. Positive = worse.

    orders: date, client_order_id, symbol, side, amount_centavos, ref_price_brl (a day plan); fills: client_order_id,
    quantity, notional_centavos, fee_centavos (one or more rows per order, summed). Unfilled orders are left out."""
    if not len(fills) or not len(orders):
        return pl.DataFrame(schema=SHORTFALL_SCHEMA)
    done = fills.group_by("client_order_id").agg(pl.col("quantity").sum(), pl.col("notional_centavos").sum(),
                                                  pl.col("fee_centavos").sum())
    got = {r[0]: r[1:] for r in done.iter_rows()}
    rows = []
    for o in orders.iter_rows(named=True):
        px, f = o.get("ref_price_brl"), got.get(o["client_order_id"])
        if not px or f is None or not f[0]:
            continue
        q, notional, fee = Decimal(f[0]), int(f[1]), int(f[2])
        side = o.get("side") or "buy"
        at_decision = q * Decimal(repr(px)) * 100
        paid = Decimal(notional + fee) if side == "buy" else -Decimal(notional - fee)
        sign = 1 if side == "buy" else -1
        shortfall = int((paid - sign * at_decision).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        rows.append({"date": o["date"], "client_order_id": o["client_order_id"], "symbol": o["symbol"], "side": side,
                     "model": model, "decision_price": px, "avg_price": notional / 100 / float(q), "filled_quantity": q,
                     "ordered_centavos": int(o["amount_centavos"]), "traded_centavos": notional, "fee_centavos": fee,
                     "shortfall_centavos": shortfall, "shortfall_bps": float((paid - sign * at_decision) / at_decision * 10_000)})
    return pl.DataFrame(rows, schema=SHORTFALL_SCHEMA)


def shortfall_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per model: orders, traded BRL, fees, shortfall in BRL and in bps of the value at decision prices
    (Σ shortfall / Σ quantity × decision price), and its mean per order."""
    if not len(table):
        return pl.DataFrame(schema={"model": pl.String, "orders": pl.UInt32, "traded_brl": pl.Float64, "fees_brl": pl.Float64,
                                    "shortfall_brl": pl.Float64, "shortfall_bps": pl.Float64, "mean_order_bps": pl.Float64})
    at_decision = (pl.col("filled_quantity").cast(pl.Float64) * pl.col("decision_price"))
    return (table.group_by("model", maintain_order=True)
            .agg(pl.len().alias("orders"), (pl.col("traded_centavos").sum() / 100).alias("traded_brl"),
                 (pl.col("fee_centavos").sum() / 100).alias("fees_brl"),
                 (pl.col("shortfall_centavos").sum() / 100).alias("shortfall_brl"),
                 (pl.col("shortfall_centavos").sum() / 100 / at_decision.sum() * 10_000).alias("shortfall_bps"),
                 pl.col("shortfall_bps").mean().alias("mean_order_bps")))
