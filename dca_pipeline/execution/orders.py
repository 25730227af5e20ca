"""Daily DCA order planning: spend available cash on the most underweight targets, never below the minimum."""
from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal

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
_NO_ORDERS = pl.DataFrame(schema=ORDER_SCHEMA)  # `.clear()` copies it in ≈1 µs, pl.DataFrame(schema=...) takes ≈100+


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
    """Buy orders for `day` (`plan_buys` without the reasons for the targets left out)."""
    return plan_buys(day, targets, holdings, prices, cash_centavos, min_order_centavos)[0]


def plan_buys(
    day: date,
    targets: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    cash_centavos: int,
    min_order_centavos: int,
    buyable: set[str] | None = None,
    spend_limit_centavos: int | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Buy orders for `day`, and the reason each other target got none.

    targets: symbol, weight; holdings: symbol, quantity; prices: symbol, close (BRL) — every price known,
    for valuing the holdings; `buyable` (default: every priced symbol) limits which targets may be bought.
    The post-trade portfolio value T = holdings value + cash; each target's deficit is weight × T minus
    its current value. Cash (at most `spend_limit_centavos`, what the spend caps still allow) goes to the largest deficits first, each order at least the minimum
    (an order may exceed a small deficit to reach the minimum); leftover cash is carried forward.
    """
    px = dict(zip(prices["symbol"].to_list(), prices["close"].to_list()))
    qty = {s: float(q) for s, q in zip(holdings["symbol"].to_list(), holdings["quantity"].to_list())} if len(holdings) else {}
    held_value = sum(q * px.get(s, 0.0) for s, q in qty.items())
    total = held_value + cash_centavos / 100
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    deficits = []
    for symbol, weight in zip(targets["symbol"].to_list(), targets["weight"].to_list()):
        if symbol not in px or weight <= 0 or (buyable is not None and symbol not in buyable):
            continue
        deficit = weight * total - qty.get(symbol, 0.0) * px[symbol]
        if deficit > 0:
            deficits.append((deficit, symbol, weight))
        else:
            skipped[symbol] = f"at or above target: value exceeds weight {weight:.4f} x portfolio by R${-deficit:.2f}"
    deficits.sort(key=lambda t: (-t[0], t[1]))
    remaining = cash_centavos if spend_limit_centavos is None else max(0, min(cash_centavos, spend_limit_centavos))
    for deficit, symbol, weight in deficits:
        if remaining < min_order_centavos:
            skipped[symbol] = f"below minimum: cash left {remaining} < minimum order {min_order_centavos} centavos"
            continue
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
    return (pl.DataFrame(rows, schema=ORDER_SCHEMA) if rows else _NO_ORDERS.clear()), skipped


def total_ordered_centavos(orders: pl.DataFrame) -> int:
    """Cash the day's buy orders commit (sell orders bring cash in, they do not spend it)."""
    if not len(orders):
        return 0
    amounts = orders["amount_centavos"].to_list()
    if "side" in orders.columns:  # the buys' amounts (a filter query per call costs more than this loop)
        amounts = [a for a, side in zip(amounts, orders["side"].to_list()) if side == "buy"]
    return int(sum(amounts))



def plan_legs(
    day: date,
    legs: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    cash_centavos: int,
    min_order_centavos: int,
    min_order_by_market: dict[str, int] | None = None,
    amount_step: Decimal = Decimal("0.00000001"),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders from rebalance legs (symbol, side, amount_centavos; sells first, their proceeds not assumed).

    Every order meets the market's minimum value and amount step; sells are capped at the quantity held and
    carry a `quantity`; buys are scaled to the cash available. Returns (orders, skipped legs with a reason).
    """
    px = dict(zip(prices["symbol"].to_list(), prices["close"].to_list()))
    held = dict(zip(holdings["symbol"].to_list(), holdings["quantity"].to_list())) if len(holdings) else {}
    minimum = min_order_by_market or {}
    rows, skipped = [], []
    remaining = cash_centavos
    for leg in legs.sort(pl.col("side") != "sell", "symbol").iter_rows(named=True):
        symbol, side, amount = leg["symbol"], leg["side"], int(leg["amount_centavos"])
        floor_ = minimum.get(symbol, min_order_centavos)
        price = px.get(symbol)
        if side not in ("buy", "sell"):
            skipped.append({**leg, "reason": f"unknown side {side!r}"})
            continue
        if not price or price <= 0:
            skipped.append({**leg, "reason": "no price"})
            continue
        if side == "buy":
            amount = min(amount, remaining)
        qty = (Decimal(amount) / 100 / Decimal(repr(price))).quantize(amount_step, rounding=ROUND_DOWN)
        if side == "sell":
            qty = min(qty, Decimal(held.get(symbol, 0)))
            amount = int(qty * Decimal(repr(price)) * 100)
        if amount < floor_ or qty <= 0:
            skipped.append({**leg, "reason": f"below the market minimum R${floor_ / 100:.2f} or one amount step"})
            continue
        if side == "buy":
            remaining -= amount
        rows.append({"date": day, "symbol": symbol, "side": side, "amount_brl": to_brl(amount), "amount_centavos": amount,
                     "client_order_id": client_order_id(day, symbol, side), "status": "new", "target_weight": None,
                     "deficit_brl": None, "ref_price_brl": price, "quantity": qty if side == "sell" else None})
    schema = {**ORDER_SCHEMA, "quantity": pl.Decimal(38, 8)}
    skipped_schema = {"symbol": pl.String, "side": pl.String, "amount_centavos": pl.Int64, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema), pl.DataFrame(
        [{k: s.get(k) for k in skipped_schema} for s in skipped], schema=skipped_schema
    )


def plan_rebalance_sells(
    day: date,
    targets: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    cash_centavos: int,
    monthly_budget_centavos: int,
    drift_threshold: float,
    min_order_centavos: int,
) -> tuple[pl.DataFrame, str]:
    """Sell orders for the month's rebalance (only called when `portfolio.rebalance.allow_sells` is on).

    On the month's first day, when some weight drifted more than `drift_threshold` of its target and the
    month's new cash cannot close the gaps, `portfolio.rebalance.rebalance_trades` sells the overweights down;
    the proceeds buy underweights from the next day on. Returns (sell orders, why)."""
    from dca_pipeline.portfolio.rebalance import drift_trigger, rebalance_trades

    empty = plan_legs(day, pl.DataFrame(schema={"symbol": pl.String, "side": pl.String, "amount_centavos": pl.Int64}),
                      holdings, prices, 0, min_order_centavos)[0]
    if day.day != 1 or holdings.is_empty():
        return empty, "sells are considered on the month's first day only"
    px = dict(zip(prices["symbol"].to_list(), prices["close"].to_list()))
    value = {s: float(q) * px.get(s, 0.0) for s, q in zip(holdings["symbol"].to_list(), holdings["quantity"].to_list())}
    total = sum(value.values()) + cash_centavos / 100
    current = {s: v / total for s, v in value.items() if total > 0}
    trigger = drift_trigger(dict(zip(targets["symbol"].to_list(), targets["weight"].to_list())), current, drift_threshold)
    if not trigger.fired:
        return empty, trigger.reason
    legs = rebalance_trades(targets, holdings, prices, cash_centavos, monthly_budget_centavos, allow_sells=True)
    sells = legs.filter(pl.col("side") == "sell").select("symbol", "side", "amount_centavos")
    if sells.is_empty():
        return empty, f"{trigger.reason}; the month's cash closes the gaps, no sell needed"
    orders, _skipped = plan_legs(day, sells, holdings, prices, 0, min_order_centavos)
    return orders, trigger.reason
