"""USD/BRL handling: forward-fill published rates onto calendar days and convert USD bars to BRL."""
from __future__ import annotations

from datetime import date

import polars as pl


def daily_fx(published: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """One USD/BRL rate per calendar day in [start, end]; weekends and holidays carry the last published rate.

    `published` has columns date, usd_brl, source. Output adds `is_filled` and `rate_date` (the date of the
    publication actually used). Days before the first publication are an error, not a guess.
    """
    days = pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
    pub = published.sort("date").with_columns(pl.col("date").alias("rate_date"))
    out = days.join_asof(pub, on="date", strategy="backward")
    if out["usd_brl"].null_count():
        first_missing = out.filter(pl.col("usd_brl").is_null())["date"][0]
        raise ValueError(f"no USD/BRL rate published on or before {first_missing}")
    return out.with_columns((pl.col("rate_date") != pl.col("date")).alias("is_filled")).select(
        "date", "usd_brl", "source", "rate_date", "is_filled"
    )


def usd_bars_to_brl(bars_usd: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    """Convert daily USD bars (base, date, open..close, volume_usd[, volume]) to the BRL OHLCV contract.

    Prices are multiplied by that day's USD/BRL rate; `volume` is in base units (the bars' own `volume` when
    given, else USD volume / USD close) and `volume_brl` is the quote volume in BRL. Unknown volume stays null.
    """
    joined = bars_usd.join(fx.select("date", "usd_brl"), on="date", how="left")
    if joined["usd_brl"].null_count():
        missing = joined.filter(pl.col("usd_brl").is_null())["date"].unique().sort().to_list()[:5]
        raise ValueError(f"no USD/BRL rate for bar dates {missing}")
    rate = pl.col("usd_brl")
    return joined.select(
        (pl.col("base") + "/BRL").alias("symbol"),
        "date",
        (pl.col("open") * rate).alias("open"),
        (pl.col("high") * rate).alias("high"),
        (pl.col("low") * rate).alias("low"),
        (pl.col("close") * rate).alias("close"),
        pl.coalesce(
            *([pl.col("volume")] if "volume" in bars_usd.columns else []),
            pl.when(pl.col("close") > 0).then(pl.col("volume_usd") / pl.col("close")),
        ).alias("volume"),
        (pl.col("volume_usd") * rate).alias("volume_brl"),
    ).sort("symbol", "date")
