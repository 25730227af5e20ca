"""Bid-ask spread from the stored order books: the liquidity factor's spread term, point in time.

For each coin, every stored top-of-book snapshot (ingestion's `order_book` dataset: symbol, ts, side, level,
price, amount) taken on or before the end of `as_of` (the month's eve) and within `SPREAD_LOOKBACK_DAYS` gives a
relative spread (best ask − best bid) / mid; crossed or one-sided snapshots are skipped. The coin's spread is the
median over its snapshots (robust to a momentary gap in the book) and the factor is `tight_spread` =
−log(spread): a tighter market scores higher. It joins the liquidity group (scores.FACTOR_GROUPS) and so weighs
through the existing `scoring.liquidity` weight.

A coin with no book gets no value: the term is neutral for it (z = 0 in score_assets) and `book_snapshots` = 0
says so; with no book for any coin the term is left out of the group altogether (the score is the one without
it). `spread_report` summarises both for the scores asset's metadata.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from dca_pipeline.storage import parquet_store

SPREAD_LOOKBACK_DAYS = 30
FACTOR = "tight_spread"
SCHEMA = {"symbol": pl.String, FACTOR: pl.Float64, "spread_bps": pl.Float64, "book_snapshots": pl.UInt32,
          "last_book_ts": pl.Datetime("us", "UTC")}


def window(as_of: date, days: int = SPREAD_LOOKBACK_DAYS) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the snapshots a month's eve may use: `days` days up to the end of `as_of`."""
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=timezone.utc)
    return end - timedelta(days=days), end


def snapshot_spreads(books: pl.DataFrame) -> pl.DataFrame:
    """One row per (symbol, ts) snapshot with both sides and bid < ask: best_bid, best_ask, rel_spread."""
    best = books.filter(pl.col("price") > 0).group_by("symbol", "ts").agg(
        pl.col("price").filter(pl.col("side") == "bid").max().alias("best_bid"),
        pl.col("price").filter(pl.col("side") == "ask").min().alias("best_ask"),
    )
    return best.filter(pl.col("best_bid").is_not_null() & pl.col("best_ask").is_not_null()
                       & (pl.col("best_bid") < pl.col("best_ask"))).with_columns(
        ((pl.col("best_ask") - pl.col("best_bid")) / ((pl.col("best_ask") + pl.col("best_bid")) / 2)).alias("rel_spread")
    )


def spread_factor(books: pl.DataFrame | None, as_of: date, symbols: list[str],
                  days: int = SPREAD_LOOKBACK_DAYS) -> pl.DataFrame:
    """SCHEMA, one row per symbol: the median relative spread of its snapshots in `window(as_of)` (books after
    the eve are ignored), the factor, how many snapshots it rests on and the newest one; null factor and 0
    snapshots for a coin without a book."""
    base = pl.DataFrame({"symbol": symbols}, schema={"symbol": pl.String})
    if books is None or books.is_empty():
        return base.with_columns(pl.lit(None, pl.Float64).alias(FACTOR), pl.lit(None, pl.Float64).alias("spread_bps"),
                                 pl.lit(0, pl.UInt32).alias("book_snapshots"),
                                 pl.lit(None, SCHEMA["last_book_ts"]).alias("last_book_ts"))
    start, end = window(as_of, days)
    ts = pl.col("ts").cast(SCHEMA["last_book_ts"])
    inside = books.with_columns(ts.alias("ts")).filter((pl.col("ts") >= start) & (pl.col("ts") < end) & pl.col("symbol").is_in(symbols))
    per = snapshot_spreads(inside).group_by("symbol").agg(
        pl.col("rel_spread").median().alias("rel"), pl.len().cast(pl.UInt32).alias("book_snapshots"),
        pl.col("ts").max().alias("last_book_ts"),
    )
    return base.join(per, on="symbol", how="left").select(
        "symbol",
        pl.when(pl.col("rel") > 0).then(-pl.col("rel").log()).alias(FACTOR),
        (pl.col("rel") * 10_000).alias("spread_bps"),
        pl.col("book_snapshots").fill_null(0),
        "last_book_ts",
    )


def stored_books(as_of: date, days: int = SPREAD_LOOKBACK_DAYS) -> pl.DataFrame:
    """The stored order-book snapshots of `window(as_of)`'s days (ingestion's `order_book` dataset); empty when
    none are stored (the replay source has no books)."""
    return parquet_store.read_range("order_book", as_of - timedelta(days=days), as_of)


def spread_report(factors: pl.DataFrame) -> dict[str, object]:
    """For metadata: coins with a spread term, coins where it is neutral (no book before the eve), and whether
    the term took part at all."""
    if "book_snapshots" not in factors.columns:
        return {"spread_term": "absent"}
    with_book = factors.filter(pl.col(FACTOR).is_not_null())["symbol"].to_list()
    without = factors.filter(pl.col(FACTOR).is_null())["symbol"].to_list()
    return {
        "spread_term": "used" if with_book else "neutral: no order book on or before the eve for any coin",
        "spread_coins_with_book": len(with_book),
        "spread_coins_neutral": len(without),
        "spread_neutral_sample": ", ".join(sorted(without)[:20]),
    }
