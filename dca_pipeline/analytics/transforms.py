"""Frame transforms feeding the statistics: outlier clipping, calendar alignment, USD→BRL conversion."""
from __future__ import annotations

from datetime import date

import polars as pl

from dca_pipeline.ingestion.fx import usd_bars_to_brl


def winsorize(
    frame: pl.DataFrame,
    column: str,
    lower_q: float = 0.01,
    upper_q: float = 0.99,
    by: str | None = "symbol",
) -> tuple[pl.DataFrame, int]:
    """Clip `column` to its [lower_q, upper_q] quantiles (per `by` group, or globally when `by` is None).

    Quantiles use linear interpolation (numpy's default) over the non-null, non-NaN values; the column is cast to
    Float64, null/NaN stay as they are. Returns the frame (same rows and order) and how many values were clipped.
    """
    if not 0 <= lower_q <= upper_q <= 1:
        raise ValueError(f"need 0 <= lower_q <= upper_q <= 1, got {lower_q}, {upper_q}")
    x = pl.col(column).cast(pl.Float64)
    valid = x.fill_nan(None)
    lo, hi = valid.quantile(lower_q, "linear"), valid.quantile(upper_q, "linear")
    if by is not None:
        lo, hi = lo.over(by), hi.over(by)
    bounded = frame.with_columns(x.alias(column), lo.alias("__lo"), hi.alias("__hi"))
    # NaN → null before comparing (polars orders NaN above everything); a null value or bound (all-null group)
    # compares as null → the value is kept and not counted
    v = pl.col(column).fill_nan(None)
    low, high = v < pl.col("__lo"), v > pl.col("__hi")
    n_clipped = int(bounded.select((low | high).fill_null(False).sum()).item())
    clipped = bounded.with_columns(
        pl.when(low).then(pl.col("__lo")).when(high).then(pl.col("__hi")).otherwise(pl.col(column)).alias(column)
    )
    return clipped.drop("__lo", "__hi"), n_clipped


def align_daily(
    frame: pl.DataFrame, value: str = "close", start: date | None = None, end: date | None = None
) -> pl.DataFrame:
    """Pivot long `symbol, date, <value>` into `date` + one column per symbol (sorted), one row per calendar day.

    Days run from `start`/`end` (default: the data's min/max date), inclusive; no forward fill — null where a
    symbol has no row that day. Datetimes are truncated to dates; a duplicate (symbol, date) is a ValueError.
    """
    long = frame.select("symbol", pl.col("date").cast(pl.Date), value).filter(pl.col("date").is_not_null())
    if long.select(pl.struct("symbol", "date").is_duplicated().any()).item():
        raise ValueError("duplicate (symbol, date) rows: cannot align")
    start = start if start is not None else long["date"].min()
    end = end if end is not None else long["date"].max()
    if start is None or end is None:  # no data and no explicit range
        return pl.DataFrame(schema={"date": pl.Date})
    days = pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
    long = long.filter(pl.col("date").is_between(start, end))
    if long.is_empty():
        return days
    wide = long.pivot(on="symbol", index="date", values=value)
    symbols = sorted(c for c in wide.columns if c != "date")
    return days.join(wide, on="date", how="left").select("date", *symbols).sort("date")


def usd_to_brl(bars_usd: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    """USD daily bars → BRL OHLCV contract; delegates to `dca_pipeline.ingestion.fx.usd_bars_to_brl`
    (prices × that day's USD/BRL, ValueError when a bar date has no rate)."""
    return usd_bars_to_brl(bars_usd, fx)
