"""Positions: quantity, average cost and market value per symbol, from the ledger's holdings; and the
portfolio's daily time-weighted return chained from those values."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.money import CENT, to_brl

POSITION_SCHEMA = {
    "date": pl.Date,
    "symbol": pl.String,
    "quantity": pl.Decimal(38, 8),
    "avg_cost_brl": pl.Float64,
    "cost_basis_brl": pl.Decimal(18, 2),
    "close_brl": pl.Float64,
    "price_date": pl.Date,
    "market_value_brl": pl.Decimal(18, 2),
}


def value_positions(day: date, holdings: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """One row per held symbol: market value = quantity × close, rounded half-even to the centavo.

    prices: symbol, close, date (the last close on or before `day`; `price_date` shows when it is stale).
    A held symbol with no price at all is an error: a position must never silently vanish.
    """
    px = {s: (d, c) for s, c, d in prices.select("symbol", "close", "date").iter_rows()}
    return pl.DataFrame(position_rows(day, holdings, px), schema=POSITION_SCHEMA)


def position_rows(day: date, holdings: pl.DataFrame, last: Mapping[str, tuple]) -> list[dict]:
    """`value_positions`' rows (POSITION_SCHEMA), with the prices as symbol → (price date, close, ...) — a
    `MarketView.last()` — for a run that builds the frame of many days at once."""
    rows = []
    for symbol, quantity, cost in holdings.select("symbol", "quantity", "cost_centavos").iter_rows():
        if quantity == 0:
            continue
        if symbol not in last:
            raise ValueError(f"no price on or before {day} for held symbol {symbol}")
        price_date, close = last[symbol][:2]
        value = (Decimal(quantity) * Decimal(repr(close))).quantize(CENT, rounding=ROUND_HALF_EVEN)
        rows.append(
            {
                "date": day,
                "symbol": symbol,
                "quantity": Decimal(quantity),
                "avg_cost_brl": float(to_brl(cost)) / float(quantity),
                "cost_basis_brl": to_brl(int(cost)),
                "close_brl": close,
                "price_date": price_date,
                "market_value_brl": value,
            }
        )
    return rows


def last_prices(bars: pl.DataFrame, day: date) -> pl.DataFrame:
    """Each symbol's last close on or before `day`."""
    return (
        bars.filter(pl.col("date") <= day)
        .sort("symbol", "date")
        .group_by("symbol")
        .agg(pl.col("close").last(), pl.col("date").last())
    )


@dataclass(frozen=True)
class DayPerformance:
    invested_centavos: int
    value_centavos: int
    cash_centavos: int
    daily_return: float | None
    twr: float

    @property
    def pnl_centavos(self) -> int:
        return self.value_centavos - self.invested_centavos


def next_day_performance(
    prev_value_centavos: int,
    prev_twr: float,
    flow_centavos: int,
    value_centavos: int,
    cash_centavos: int,
    invested_centavos: int,
) -> DayPerformance:
    """Chain one day: the day's contribution arrives at the start of the day, so
    r = V_t / (V_{t-1} + CF_t) − 1 and TWR_t = (1 + TWR_{t-1})(1 + r) − 1. No capital at risk: r is None."""
    base = prev_value_centavos + flow_centavos
    if base <= 0:
        return DayPerformance(invested_centavos, value_centavos, cash_centavos, None, prev_twr)
    r = float(Decimal(value_centavos) / Decimal(base)) - 1.0
    return DayPerformance(invested_centavos, value_centavos, cash_centavos, r, (1 + prev_twr) * (1 + r) - 1)
