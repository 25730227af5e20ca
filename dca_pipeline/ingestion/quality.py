"""Data-quality rules for OHLCV frames: split valid from quarantined rows, and find violations for checks."""
from __future__ import annotations

import polars as pl

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")


def _reason_expr() -> pl.Expr:
    """First failed rule of a row, or null when the row is valid."""
    price_cols = ["open", "high", "low", "close"]
    return (
        pl.when(pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in price_cols]))
        .then(pl.lit("missing price"))
        .when(pl.any_horizontal([pl.col(c) <= 0 for c in price_cols]))
        .then(pl.lit("non-positive price"))
        .when(pl.col("volume").is_null() | pl.col("volume").is_nan())
        .then(pl.lit("missing volume"))
        .when(pl.col("low") > pl.min_horizontal("open", "close"))
        .then(pl.lit("low above open/close"))
        .when(pl.col("high") < pl.max_horizontal("open", "close"))
        .then(pl.lit("high below open/close"))
        .when(pl.col("volume") < 0)
        .then(pl.lit("negative volume"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def split_valid_ohlcv(frame: pl.DataFrame, key: tuple[str, ...] = ("symbol", "date")) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (valid rows, quarantined rows with a `reason` column); duplicates of a key keep the first row."""
    tagged = frame.with_columns(_reason_expr().alias("reason"))
    dup = pl.int_range(pl.len()).over(list(key)) > 0
    tagged = tagged.with_columns(
        pl.when(pl.col("reason").is_null() & dup).then(pl.lit("duplicate key")).otherwise(pl.col("reason")).alias("reason")
    )
    valid = tagged.filter(pl.col("reason").is_null()).drop("reason")
    quarantined = tagged.filter(pl.col("reason").is_not_null())
    return valid, quarantined


def ohlc_violations(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows breaking low <= open, close <= high, positive prices or volume >= 0, with the rule broken."""
    return frame.with_columns(_reason_expr().alias("reason")).filter(pl.col("reason").is_not_null())


def duplicate_keys(frame: pl.DataFrame, key: tuple[str, ...] = ("symbol", "date")) -> pl.DataFrame:
    """Keys that occur more than once, with their count."""
    return frame.group_by(list(key)).len().filter(pl.col("len") > 1).sort(list(key))


def missing_symbol_days(frame: pl.DataFrame, expected: pl.DataFrame) -> pl.DataFrame:
    """Expected (symbol, date) pairs absent from `frame`."""
    return expected.join(frame.select("symbol", "date"), on=["symbol", "date"], how="anti").sort("symbol", "date")
