"""The Great Expectations suites: what a reviewer reads to know the rules each stored frame must satisfy.

Each suite is a name and a list of GX Core 1.x expectations built on demand (GX is imported here only when a
suite is built, i.e. inside a check that validates, never when the code location loads). Per-row quarantine
with a reason stays in polars (`ingestion/quality.py`): these suites judge the frames that were stored.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

BRL_SYMBOL = r"^[A-Z0-9]+/BRL$"  # every traded pair is quoted in BRL; a USD or USDT pair is a source mix-up
ORDER_SIDES = ["buy", "sell"]
WEIGHT_TOLERANCE = 1e-6  # optimiser round-off: a weight 1e-17 above its cap is at its cap


@dataclass(frozen=True)
class Suite:
    """A named list of GX expectations; `derived` columns (polars expressions) are added to the frame before
    validation, for rules GX states without a tolerance (e.g. cap − weight ≥ −1e-6)."""

    name: str
    rules: list
    derived: dict[str, pl.Expr] = field(default_factory=dict)


def gx_module() -> Any:
    """`great_expectations`, imported on first use with its usage analytics off (no network from a check)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations

    return great_expectations


def _gxe() -> Any:
    return gx_module().expectations


def raw_ohlcv_1d_suite() -> Suite:
    """Stored daily bars: keys present and unique, BRL pairs only, positive prices inside [low, high], volume >= 0."""
    e = _gxe()
    rules = [e.ExpectColumnToExist(column=c) for c in ("symbol", "date", "open", "high", "low", "close", "volume")]
    rules += [
        e.ExpectColumnValuesToNotBeNull(column="symbol"),
        e.ExpectColumnValuesToNotBeNull(column="date"),
        e.ExpectColumnValuesToMatchRegex(column="symbol", regex=BRL_SYMBOL),
        e.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "date"]),
        *[e.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True) for c in ("open", "high", "low", "close")],
        e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="low", or_equal=True),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="close", or_equal=True),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="close", column_B="low", or_equal=True),
    ]
    return Suite("raw_ohlcv_1d", rules)


def features_daily_suite() -> Suite:
    """Daily features: one row per (symbol, date); RSI in [0, 100]; volatilities and ATR non-negative."""
    e = _gxe()
    return Suite("features_daily", [
        e.ExpectColumnValuesToNotBeNull(column="symbol"),
        e.ExpectColumnValuesToNotBeNull(column="date"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "date"]),
        e.ExpectColumnValuesToBeBetween(column="rsi_14", min_value=0, max_value=100),
        *[e.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in ("vol_30", "vol_90", "atr_14")],
    ])


def target_weights_suite(tiers: Sequence[str]) -> Suite:
    """Monthly targets: one row per symbol, a known tier, weight in [0, cap], cap in (0, 1], weights sum to <= 1
    (cap and sum within WEIGHT_TOLERANCE)."""
    e = _gxe()
    return Suite("target_weights", [
        e.ExpectColumnValuesToNotBeNull(column="symbol"),
        e.ExpectColumnValuesToBeUnique(column="symbol"),
        e.ExpectColumnValuesToMatchRegex(column="symbol", regex=BRL_SYMBOL),
        e.ExpectColumnValuesToBeInSet(column="tier", value_set=list(tiers)),
        e.ExpectColumnValuesToBeBetween(column="weight", min_value=0, max_value=1),
        e.ExpectColumnValuesToBeBetween(column="cap", min_value=0, max_value=1, strict_min=True),
        e.ExpectColumnValuesToBeBetween(column="cap_headroom", min_value=-WEIGHT_TOLERANCE),
        e.ExpectColumnSumToBeBetween(column="weight", min_value=0, max_value=1 + WEIGHT_TOLERANCE),
    ], derived={"cap_headroom": pl.col("cap") - pl.col("weight")})


def dca_orders_suite(min_order_centavos: int) -> Suite:
    """The day's orders: unique client order ids, BRL pairs, buy/sell, at least the exchange minimum."""
    e = _gxe()
    return Suite("dca_orders", [
        e.ExpectColumnValuesToNotBeNull(column="client_order_id"),
        e.ExpectColumnValuesToBeUnique(column="client_order_id"),
        e.ExpectColumnValuesToMatchRegex(column="symbol", regex=BRL_SYMBOL),
        e.ExpectColumnValuesToBeInSet(column="side", value_set=ORDER_SIDES),
        e.ExpectColumnValuesToNotBeNull(column="amount_centavos"),
        e.ExpectColumnValuesToBeBetween(column="amount_centavos", min_value=min_order_centavos),
    ])
