"""What the investor would otherwise do, with the same budget slices: BTC-only DCA and equal-weight DCA."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.money import daily_contribution_centavos, to_brl


def _brl(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def dca_benchmark(
    bars: pl.DataFrame, weights_by_month: dict[date, dict[str, float]], start: date, end: date, budget_centavos: int, fee: Decimal
) -> pl.DataFrame:
    """Each day's budget slice split by that month's weights and bought at the day's close, less the fee.

    Returns date, invested_brl, value_brl (value at each day's close; a coin without a bar keeps its last close).
    """
    closes = {d: dict(zip(g["symbol"], g["close"])) for (d,), g in bars.partition_by("date", as_dict=True).items()}
    qty: dict[str, Decimal] = {}
    last: dict[str, float] = {}
    invested, rows, day = 0, [], start
    while day <= end:
        today = closes.get(day, {})
        last.update(today)
        slice_c = daily_contribution_centavos(budget_centavos, day)
        invested += slice_c
        weights = weights_by_month.get(day.replace(day=1), {})
        for sym, w in weights.items():
            if sym in today and w > 0:
                spend = Decimal(slice_c) / 100 * Decimal(repr(w))
                qty[sym] = qty.get(sym, Decimal(0)) + spend * (1 - fee) / Decimal(repr(today[sym]))
        value = sum((q * Decimal(repr(last[s])) for s, q in qty.items()), Decimal(0))
        rows.append({"date": day, "invested_brl": to_brl(invested), "value_brl": _brl(value)})
        day += timedelta(days=1)
    return pl.DataFrame(rows)


def btc_only(bars: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    months = {}
    m = start.replace(day=1)
    while m <= end:
        months[m] = {"BTC/BRL": 1.0}
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return dca_benchmark(bars, months, start, end, budget_centavos, fee)


def equal_weight(bars: pl.DataFrame, targets: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    """Equal weights over the coins the strategy held targets for in each month (same universe, no optimizer)."""
    by_month: dict[date, dict[str, float]] = {}
    for (month,), g in targets.partition_by("month", as_dict=True).items():
        symbols = g.filter(pl.col("weight") > 0)["symbol"].to_list()
        by_month[month] = {s: 1 / len(symbols) for s in symbols} if symbols else {}
    return dca_benchmark(bars, by_month, start, end, budget_centavos, fee)


def index_dca(index: pl.DataFrame, start: date, end: date, budget_centavos: int) -> pl.DataFrame:
    """Daily slices into an index (e.g. Ibovespa) with no fee: cash waits for the next trading day's close."""
    closes = dict(zip(index["date"].to_list(), index["close"].to_list()))
    units, pending, invested, last = Decimal(0), 0, 0, None
    rows, day = [], start
    while day <= end:
        slice_c = daily_contribution_centavos(budget_centavos, day)
        invested += slice_c
        pending += slice_c
        if day in closes:
            last = Decimal(repr(closes[day]))
            units += Decimal(pending) / 100 / last
            pending = 0
        value = units * last + Decimal(pending) / 100 if last is not None else Decimal(pending) / 100
        rows.append({"date": day, "invested_brl": to_brl(invested), "value_brl": _brl(value)})
        day += timedelta(days=1)
    return pl.DataFrame(rows)


def lump_sum(bars: pl.DataFrame, symbol: str, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    """The whole period's budget put into `symbol` at the first day's close (invested counts it all from day one)."""
    total = 0
    day = start
    while day <= end:
        total += daily_contribution_centavos(budget_centavos, day)
        day += timedelta(days=1)
    series = bars.filter(pl.col("symbol") == symbol).sort("date").select("date", "close")
    closes = dict(zip(series["date"].to_list(), series["close"].to_list()))
    if start not in closes:  # the market has no such coin on day one: no lump-sum benchmark
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return pl.DataFrame({"date": days, "invested_brl": [to_brl(total)] * len(days), "value_brl": [None] * len(days)},
                            schema={"date": pl.Date, "invested_brl": pl.Decimal(38, 2), "value_brl": pl.Decimal(38, 2)})
    qty = Decimal(total) / 100 * (1 - fee) / Decimal(repr(closes[start]))
    rows, last, day = [], closes[start], start
    while day <= end:
        last = closes.get(day, last)
        rows.append({"date": day, "invested_brl": to_brl(total), "value_brl": _brl(qty * Decimal(repr(last)))})
        day += timedelta(days=1)
    return pl.DataFrame(rows)
