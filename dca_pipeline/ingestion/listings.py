"""Symbol listings: when each symbol was first and last seen, and when it left the market (kept in history)."""
from __future__ import annotations

from datetime import date, timedelta

import polars as pl

LISTING_SCHEMA = {"symbol": pl.String, "first_seen": pl.Date, "last_seen": pl.Date, "delisted_on": pl.Date, "active": pl.Boolean}


def bar_spans(bars: pl.DataFrame) -> pl.DataFrame:
    """(symbol, first_bar, last_bar) from daily bars."""
    return bars.group_by("symbol").agg(pl.col("date").min().alias("first_bar"), pl.col("date").max().alias("last_bar"))


def build_listings(spans: pl.DataFrame, markets: pl.DataFrame | None, data_end: date, grace_days: int) -> pl.DataFrame:
    """One row per symbol ever seen. Delisted = absent from the source's active markets (when it can list them),
    else no bar for more than `grace_days` before `data_end`; `delisted_on` is the day after its last bar."""
    frame = spans.select("symbol", "first_bar", "last_bar")
    if markets is not None:
        listed = markets.select(
            "symbol",
            (pl.col("listed_from").cast(pl.Datetime("us", "UTC")).dt.date() if "listed_from" in markets.columns else pl.lit(None, dtype=pl.Date)).alias("listed_on"),
            pl.lit(True).alias("in_market"),
        )
        frame = frame.join(listed, on="symbol", how="full", coalesce=True)
        gone = pl.col("in_market").is_null()
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias("listed_on"))
        gone = pl.col("last_bar") < pl.lit(data_end - timedelta(days=grace_days))
    out = frame.with_columns(
        pl.min_horizontal("first_bar", "listed_on").alias("first_seen"),
        pl.col("last_bar").alias("last_seen"),
        pl.when(gone & pl.col("last_bar").is_not_null()).then(pl.col("last_bar") + pl.duration(days=1)).alias("delisted_on"),
    ).with_columns(pl.col("delisted_on").is_null().alias("active"))
    return out.select([pl.col(c).cast(t) for c, t in LISTING_SCHEMA.items()]).sort("symbol")
