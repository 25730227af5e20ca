"""How the day's slice is executed over the next day's hours, from bars: the one fill model of the paper broker
(when no order book exists), a backfill and the backtest.

Models (`execution.model`):
- `market_open`: one market order at the next day's open + slippage, taker fee (`paper_fill.paper_fills`).
- `twap`: the amount (a sell: the quantity) in equal slices, one per hour of the window, each a market order at
  that hour's mean price ((open + close) / 2) + slippage with the taker fee. Fewer slices when equal slices would
  be smaller than the minimum order (each slice is an order on the exchange), at least one; a slice then spans
  several hours and trades at their mean.
- `maker_first`: a limit at the best bid (a sell: the best ask) when the window opens; it fills whole at the limit
  with the maker fee when an hourly low trades through it (strictly below; a sell: a high strictly above), else
  the whole amount goes as a market order at the last hour's close + slippage, taker fee, when the window ends.
  From bars the best bid is the open less half the assumed spread (`execution.bar_spread_bps`); with an order
  book the book broker (`paper_book_broker`) places the limit at the real bid instead.

Hourly bars: stored `ohlcv_1h` rows when a source has them; otherwise (the bundled history has daily bars only,
data/SOURCES.md) `derived_hours` spreads each daily bar over 24 hours along the path open → low → high → close
(open → high → low → close on a down day), linearly, so the hourly lows reach the day's true low and TWAP
averages a path through the day's real open, extremes and close. Fills say which (`hours`: `stored|derived`).

Each order gives one fill row (paper_fill.SIM_FILL_SCHEMA): the slices' quantities, notionals and fees summed,
the price the legs' quantity-weighted average, so every ledger books it as one fill; `liquidity` and `slices` say how.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Literal

import polars as pl

from dca_pipeline.execution.paper_fill import SIM_FILL_SCHEMA, paper_fills
from dca_pipeline.money import fee_centavos, floor_quantity, to_brl

Model = Literal["market_open", "twap", "maker_first"]
MODELS: tuple[str, ...] = ("market_open", "twap", "maker_first")
EXEC_FILL_SCHEMA = {**SIM_FILL_SCHEMA, "liquidity": pl.String, "slices": pl.Int64, "hours": pl.String}
HOURLY_SCHEMA = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "open": pl.Float64, "high": pl.Float64,
                 "low": pl.Float64, "close": pl.Float64}
STEP = Decimal("0.00000001")
_NO_FILLS = pl.DataFrame(schema=EXEC_FILL_SCHEMA)  # `.clear()` copies it in ≈1 µs, pl.DataFrame(schema=...) takes ≈100+


@dataclass(frozen=True)
class ExecutionParams:
    """What a fill model needs, from the settings (`from_settings`) or given directly in tests."""

    model: Model = "market_open"
    taker_fee: Decimal = Decimal("0.007")
    maker_fee: Decimal = Decimal("0.003")
    slippage_bps: float = 10.0
    bar_spread_bps: float = 10.0
    window_hours: int = 24
    min_slice_centavos: int = 1

    @classmethod
    def from_settings(cls, settings, model: str | None = None) -> "ExecutionParams":  # noqa: ANN001 - config.Settings
        ex = settings.execution
        return cls(model or ex.model, settings.fees.taker, settings.fees.maker, settings.slippage_bps, ex.bar_spread_bps,
                   ex.window_hours, settings.min_order_centavos)


def derived_hours(day_bars: pl.DataFrame, day: date | None = None) -> pl.DataFrame:
    """24 hourly bars per symbol from its daily bar (symbol, open, high, low, close; `date` or `day` = the day
    they span): linear along open → low → high → close on an up day (close ≥ open), open → high → low → close
    on a down day, the two extremes reached at 08:00 and 16:00 UTC. Each hour's open/close are the path at its
    ends, its high/low the larger/smaller of the two (the turns fall on hour boundaries)."""
    rows = []
    for r in day_bars.iter_rows(named=True):
        d = r.get("date") or day
        if d is None:
            raise ValueError("derived_hours needs the bars' date: a `date` column or the `day` argument")
        o, h, lo, c = r["open"], r["high"], r["low"], r["close"]
        if None in (o, h, lo, c):
            continue
        first, second = (lo, h) if c >= o else (h, lo)
        points = [(0, o), (8, first), (16, second), (24, c)]
        start = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        for hour in range(24):
            a, b = _path(points, hour), _path(points, hour + 1)
            rows.append((r["symbol"], start + timedelta(hours=hour), a, max(a, b), min(a, b), b))
    return pl.DataFrame(rows, schema=HOURLY_SCHEMA, orient="row")


def _path(points: list[tuple[int, float]], t: int) -> float:
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return p0 + (p1 - p0) * (t - t0) / (t1 - t0)
    raise ValueError(t)


def window_hours(next_bars: pl.DataFrame, hourly: pl.DataFrame | None, day: date, hours: int) -> pl.DataFrame:
    """The hourly bars of the execution window (the `hours` hours from the next day's 00:00 UTC) per symbol:
    stored ones where given, derived from `next_bars` for every symbol without any. Returns (bars, which) with
    `which` per symbol in a `hours` column (`stored` | `derived`)."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
    end = start + timedelta(hours=hours)
    stored = pl.DataFrame(schema=HOURLY_SCHEMA)
    if hourly is not None and len(hourly):
        stored = hourly.select(list(HOURLY_SCHEMA)).cast(HOURLY_SCHEMA).filter((pl.col("ts") >= start) & (pl.col("ts") < end))  # type: ignore[arg-type]
    have = set(stored["symbol"].to_list())
    need = next_bars.filter(~pl.col("symbol").is_in(list(have)))
    derived = derived_hours(need.drop("date", strict=False), start.date()).filter(pl.col("ts") < end) if len(need) else pl.DataFrame(schema=HOURLY_SCHEMA)
    return pl.concat([stored.with_columns(pl.lit("stored").alias("hours")),
                      derived.with_columns(pl.lit("derived").alias("hours"))]).sort("symbol", "ts")


def execute_orders(orders: pl.DataFrame, next_bars: pl.DataFrame, params: ExecutionParams,
                   hourly: pl.DataFrame | None = None) -> tuple[pl.DataFrame, dict[str, str]]:
    """Fill the day's orders with the model in `params`: (one fill row per filled order, EXEC_FILL_SCHEMA; status
    per client_order_id, `filled` or `expired` when the symbol has no bar after the day).

    next_bars: the next day's daily bars (symbol, open[, high, low, close]); hourly: stored hourly bars (symbol,
    ts, open, high, low, close), any range — the window's hours are taken from it, the rest derived."""
    if not len(orders):  # what the market_open path yields for no orders
        return _NO_FILLS.clear(), {}
    if params.model == "market_open":
        fills, status = paper_fills(orders, next_bars[["symbol", "open"]], params.taker_fee, params.slippage_bps)
        n = len(fills)  # the three constant columns stacked on eagerly (with_columns runs a query per call)
        return fills.hstack([pl.Series("liquidity", ["taker"] * n, pl.String), pl.Series("slices", [1] * n, pl.Int64),
                             pl.Series("hours", ["daily"] * n, pl.String)]), status
    day: date = orders["date"][0]
    wanted = orders["symbol"].unique().to_list()  # derive hours only for the symbols traded
    bars = window_hours(next_bars.filter(pl.col("symbol").is_in(wanted)),
                        hourly.filter(pl.col("symbol").is_in(wanted)) if hourly is not None else None, day, params.window_hours)
    by_symbol = {s: g.sort("ts") for (s,), g in bars.partition_by("symbol", as_dict=True).items()} if len(bars) else {}
    rows, status = [], {}
    for o in orders.iter_rows(named=True):
        hours = by_symbol.get(o["symbol"])
        side = o.get("side") or "buy"
        if hours is None or not len(hours) or (side == "sell" and not o.get("quantity")):
            status[o["client_order_id"]] = "expired"
            continue
        legs = _twap(o, side, hours, params) if params.model == "twap" else _maker_first(o, side, hours, params)
        rows.append(_one_row(o, side, legs, params.model, hours["hours"][0]))
        status[o["client_order_id"]] = "filled"
    return pl.DataFrame(rows, schema=EXEC_FILL_SCHEMA), status


@dataclass(frozen=True)
class Leg:
    quantity: Decimal
    price: float
    notional_centavos: int
    fee_centavos: int
    liquidity: str
    at: datetime


def _leg(side: str, price: float, rate: Decimal, at: datetime, liquidity: str, amount: int | None = None,
         quantity: Decimal | None = None) -> Leg:
    """A buy spending `amount` centavos (fee taken from it), or a sell of `quantity` (fee on the notional)."""
    if side == "buy":
        fee = fee_centavos(amount or 0, rate)
        notional = (amount or 0) - fee
        return Leg(floor_quantity(to_brl(notional) / Decimal(repr(price))), price, notional, fee, liquidity, at)
    q = floor_quantity(quantity or Decimal(0))
    notional = int((q * Decimal(repr(price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return Leg(q, price, notional, fee_centavos(notional, rate), liquidity, at)


def _twap(o: dict, side: str, hours: pl.DataFrame, p: ExecutionParams) -> list[Leg]:
    slip = p.slippage_bps / 10_000
    if side == "buy":
        amount = int(o["amount_centavos"])
        n = max(1, min(len(hours), amount // max(p.min_slice_centavos, 1)))
        parts = [amount // n + (1 if i < amount % n else 0) for i in range(n)]
    else:
        qty = floor_quantity(Decimal(o["quantity"]))
        ref = float(o.get("ref_price_brl") or hours["open"][0])
        n = max(1, min(len(hours), int(qty * Decimal(repr(ref)) * 100) // max(p.min_slice_centavos, 1)))
        each = (qty / n).quantize(STEP, rounding=ROUND_DOWN)
        parts = [each] * (n - 1) + [qty - each * (n - 1)]
    # slice i owns hours [i·H/n, (i+1)·H/n) and trades at their mean price (each hour's (open + close) / 2): a slice is
    # one order sent at some moment of its share of the window, not at a chosen hour (with hours derived from a daily
    # bar, a fixed hour would land exactly on the day's low or high)
    mids = ((hours["open"] + hours["close"]) / 2).to_list()
    times = hours["ts"].to_list()
    bounds = [round(i * len(hours) / n) for i in range(n + 1)]
    legs = []
    for i, part in enumerate(parts):
        span = mids[bounds[i]:bounds[i + 1]]
        mean = sum(span) / len(span)
        price = mean * (1 + slip) if side == "buy" else mean * (1 - slip)
        legs.append(_leg(side, price, p.taker_fee, times[bounds[i + 1] - 1] + timedelta(hours=1), "taker",
                         amount=part if side == "buy" else None, quantity=part if side == "sell" else None))
    return legs


def _maker_first(o: dict, side: str, hours: pl.DataFrame, p: ExecutionParams) -> list[Leg]:
    half = p.bar_spread_bps / 2 / 10_000
    first_open = hours["open"][0]
    amount, qty = int(o["amount_centavos"]), (Decimal(o["quantity"]) if side == "sell" else None)
    if side == "buy":
        limit = first_open * (1 - half)
        through = hours.filter(pl.col("low") < limit)
    else:
        limit = first_open * (1 + half)
        through = hours.filter(pl.col("high") > limit)
    if len(through):
        at = through["ts"][0] + timedelta(hours=1)
        return [_leg(side, limit, p.maker_fee, at, "maker", amount=amount, quantity=qty)]
    slip = p.slippage_bps / 10_000
    last_close = hours["close"][-1]
    price = last_close * (1 + slip) if side == "buy" else last_close * (1 - slip)
    return [_leg(side, price, p.taker_fee, hours["ts"][-1] + timedelta(hours=1), "taker", amount=amount, quantity=qty)]


def _one_row(o: dict, side: str, legs: list[Leg], model: str, which: str) -> dict:
    q = sum((x.quantity for x in legs), Decimal(0))
    notional = sum(x.notional_centavos for x in legs)
    fee = sum(x.fee_centavos for x in legs)
    # the legs' prices weighted by their quantities (a single leg: its own price, as paper_fills reports it)
    price = float(sum(x.quantity * Decimal(repr(x.price)) for x in legs) / q) if q and len(legs) > 1 else legs[-1].price
    amount = notional + fee if side == "buy" else notional
    liquidity = "+".join(sorted({x.liquidity for x in legs}))
    return {"date": o["date"], "client_order_id": o["client_order_id"], "symbol": o["symbol"], "quantity": q,
            "price_brl": price, "fee_brl": to_brl(fee), "notional_brl": to_brl(notional), "amount_brl": to_brl(amount),
            "fee_centavos": fee, "notional_centavos": notional, "amount_centavos": amount, "filled_at": legs[-1].at,
            "broker": f"paper_{model}", "side": side, "liquidity": liquidity, "slices": len(legs), "hours": which}
