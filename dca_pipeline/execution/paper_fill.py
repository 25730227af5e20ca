"""The paper fill: the next bar's open moved by the slippage, and the taker fee (buys and sells)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.money import fee_centavos, floor_quantity, to_brl

FILL_SCHEMA = {
    "date": pl.Date,
    "client_order_id": pl.String,
    "symbol": pl.String,
    "quantity": pl.Decimal(38, 8),
    "price_brl": pl.Float64,
    "fee_brl": pl.Decimal(18, 2),
    "notional_brl": pl.Decimal(18, 2),
    "amount_brl": pl.Decimal(18, 2),
    "fee_centavos": pl.Int64,
    "notional_centavos": pl.Int64,
    "amount_centavos": pl.Int64,
    "filled_at": pl.Datetime("us", "UTC"),
    "broker": pl.String,
}


SIM_FILL_SCHEMA = {**FILL_SCHEMA, "side": pl.String}


def paper_fills(orders: pl.DataFrame, next_open: pl.DataFrame, taker_fee: Decimal, slippage_bps: float) -> tuple[pl.DataFrame, dict[str, str]]:
    """Fill each order at the next day's open moved against it by the slippage, paying the taker fee — the one
    fill function of the paper broker, the backfill and the backtest.

    Buys: price = open × (1 + slippage), the fee taken from the gross amount, quantity = (amount − fee) / price
    rounded down to 1e-8. Sells (with a `quantity`): price = open × (1 − slippage), notional = quantity × price
    (half-even centavos), fee on the notional. Returns (fills with a `side` column, status per
    client_order_id): `filled`, or `expired` when the market has no next bar for the symbol.
    """
    opens = dict(zip(next_open["symbol"].to_list(), next_open["open"].to_list()))
    rows, status = [], {}
    for o in orders.iter_rows(named=True):
        price = opens.get(o["symbol"])
        side = o.get("side") or "buy"
        if price is None or price <= 0 or (side == "sell" and not o.get("quantity")):
            status[o["client_order_id"]] = "expired"
            continue
        if side == "sell":
            fill_price = price * (1 - slippage_bps / 10_000)
            quantity = floor_quantity(Decimal(o["quantity"]))
            notional = int((quantity * Decimal(repr(fill_price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            fee = fee_centavos(notional, taker_fee)
            amount = notional
        else:
            fill_price = price * (1 + slippage_bps / 10_000)
            amount = int(o["amount_centavos"])
            fee = fee_centavos(amount, taker_fee)
            notional = amount - fee
            quantity = floor_quantity(to_brl(notional) / Decimal(repr(fill_price)))
        day: date = o["date"]
        rows.append(
            {
                "date": day,
                "client_order_id": o["client_order_id"],
                "symbol": o["symbol"],
                "quantity": quantity,
                "price_brl": fill_price,
                "fee_brl": to_brl(fee),
                "notional_brl": to_brl(notional),
                "amount_brl": to_brl(amount),
                "fee_centavos": fee,
                "notional_centavos": notional,
                "amount_centavos": amount,
                "filled_at": datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1),
                "broker": "paper",
                "side": side,
            }
        )
        status[o["client_order_id"]] = "filled"
    return pl.DataFrame(rows, schema=SIM_FILL_SCHEMA), status
