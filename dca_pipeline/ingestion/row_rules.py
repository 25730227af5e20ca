"""Data-quality rules for OHLCV frames: split valid from quarantined rows, and find violations for checks."""
from __future__ import annotations

import polars as pl

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")


def _is_nan(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64).is_nan()


def _reason_expr(key: tuple[str, ...] = ()) -> pl.Expr:
    """First failed rule of a row, or null when the row is valid (key columns must be non-null)."""
    price_cols = ["open", "high", "low", "close"]
    no_key = pl.any_horizontal([pl.col(k).is_null() for k in key]) if key else pl.lit(False)
    return (
        pl.when(no_key)
        .then(pl.lit("missing key"))
        .when(pl.any_horizontal([pl.col(c).is_null() | _is_nan(c) for c in price_cols]))
        .then(pl.lit("missing price"))
        .when(pl.any_horizontal([pl.col(c).cast(pl.Float64).is_infinite() for c in price_cols]))
        .then(pl.lit("non-finite price"))
        .when(pl.any_horizontal([pl.col(c) <= 0 for c in price_cols]))
        .then(pl.lit("non-positive price"))
        .when(pl.col("volume").is_null() | _is_nan("volume"))
        .then(pl.lit("missing volume"))
        .when(pl.col("volume").cast(pl.Float64).is_infinite())
        .then(pl.lit("non-finite volume"))
        .when(pl.col("low") > pl.min_horizontal("open", "close"))
        .then(pl.lit("low above open/close"))
        .when(pl.col("high") < pl.max_horizontal("open", "close"))
        .then(pl.lit("high below open/close"))
        .when(pl.col("volume") < 0)
        .then(pl.lit("negative volume"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def split_valid_ohlcv(frame: pl.DataFrame, key: tuple[str, ...] = ("symbol", "date")) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (valid rows unchanged and in order, quarantined rows with a `reason` column).

    A key seen more than once keeps its first *valid* row; later valid copies are quarantined as duplicates.
    """
    present_key = tuple(k for k in key if k in frame.columns)
    if len(present_key) != len(key):
        raise ValueError(f"OHLCV frame lacks key columns {[k for k in key if k not in frame.columns]} (has {frame.columns})")
    tagged = mark_duplicates(frame.with_columns(_reason_expr(key).alias("reason")), key)
    valid = tagged.filter(pl.col("reason").is_null()).drop("reason")
    quarantined = tagged.filter(pl.col("reason").is_not_null())
    return valid, quarantined


def mark_duplicates(tagged: pl.DataFrame, key: tuple[str, ...]) -> pl.DataFrame:
    """Set reason 'duplicate key' on every valid row (null `reason`) whose key an earlier valid row already has."""
    index = pl.int_range(pl.len(), dtype=pl.UInt32)
    valid = tagged.select(index.alias("row"), pl.col("reason").is_null().alias("ok"), *key).filter(pl.col("ok"))
    repeated = valid.filter(~pl.struct(list(key)).is_first_distinct())["row"]
    if repeated.is_empty():
        return tagged
    return tagged.with_columns(
        pl.when(index.is_in(repeated.implode())).then(pl.lit("duplicate key")).otherwise(pl.col("reason")).alias("reason")
    )


def ohlc_violations(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows breaking low <= open, close <= high, positive prices or volume >= 0, with the rule broken."""
    return frame.with_columns(_reason_expr().alias("reason")).filter(pl.col("reason").is_not_null())


def duplicate_keys(frame: pl.DataFrame, key: tuple[str, ...] = ("symbol", "date")) -> pl.DataFrame:
    """Keys that occur more than once, with their count."""
    return frame.group_by(list(key)).len().filter(pl.col("len") > 1).sort(list(key))


def missing_symbol_days(frame: pl.DataFrame, expected: pl.DataFrame) -> pl.DataFrame:
    """Expected (symbol, date) pairs absent from `frame`."""
    return expected.join(frame.select("symbol", "date"), on=["symbol", "date"], how="anti").sort("symbol", "date")
