"""Intraday and microstructure ingestion as plain functions: fetch from the source, validate, fill, report.

The Dagster assets in `intraday_assets.py` only call these. A source that cannot serve a dataset (the replay
source has daily bars only) raises `DataNotAvailable` or lacks the method: that is reported, not an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import polars as pl

from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.dataset_rules import expected_bars, fill_gaps, split_valid_order_book, split_valid_trades
from dca_pipeline.storage import parquet_store


class SourceCannotServe(Exception):
    """The source has no data of this kind (no method, or it raised DataNotAvailable)."""


def is_not_available(exc: BaseException) -> bool:
    """True for the sources' DataNotAvailable (matched by class name: the class lives on another branch)."""
    from dca_pipeline.ingestion import sources

    cls = getattr(sources, "DataNotAvailable", None)
    return (isinstance(cls, type) and isinstance(exc, cls)) or any(
        k.__name__ == "DataNotAvailable" for k in type(exc).__mro__
    )


def call_source(client: object, method: str, *args: object) -> pl.DataFrame:
    """Call `client.method(*args)`, turning 'not available' into SourceCannotServe."""
    fn = getattr(client, method, None)
    if fn is None:
        raise SourceCannotServe(f"source {getattr(client, 'name', type(client).__name__)!r} has no {method}()")
    try:
        return fn(*args)
    except Exception as exc:
        if is_not_available(exc):
            raise SourceCannotServe(f"{method}: {exc}") from exc
        raise


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def active_markets(client: object) -> pl.DataFrame | None:
    """The source's active markets (symbol, listed_from) or None when it cannot list them."""
    try:
        markets = call_source(client, "markets")
    except SourceCannotServe:
        return None
    if "active" in markets.columns:
        markets = markets.filter(pl.col("active").fill_null(True))
    cols = [pl.col("symbol")]
    if "listed_at" in markets.columns:
        cols.append(pl.col("listed_at").alias("listed_from"))
    return markets.select(cols).unique("symbol").sort("symbol")


def wanted_symbols(configured: tuple[str, ...], markets: pl.DataFrame | None) -> list[str] | None:
    """Configured symbols, else every active market, else None (the source decides)."""
    if configured:
        return list(configured)
    return markets["symbol"].to_list() if markets is not None else None


@dataclass
class Ingested:
    """One partition's outcome: rows to store, rejected rows (with `reason`) and metadata for the UI."""

    rows: pl.DataFrame
    rejected: pl.DataFrame
    metadata: dict[str, object] = field(default_factory=dict)


def empty(dataset: str, note: str, source: str) -> Ingested:
    """An empty partition recorded on purpose, with the reason in its metadata."""
    frame = pl.DataFrame(schema=parquet_store.SCHEMAS[dataset])
    return Ingested(frame, pl.DataFrame(), {"rows": 0, "symbols": 0, "source": source, "data_available": False, "note": note})


def ingest_bars(
    client: object, timeframe: str, day: date, symbols: list[str] | None, markets: pl.DataFrame | None,
    max_fill_bars: int, previous: pl.DataFrame, now: datetime,
) -> Ingested:
    """Bars of one UTC day: fetched, validated (bad rows rejected), short gaps filled (`filled=true`)."""
    dataset, source = f"ohlcv_{timeframe}", getattr(client, "name", "unknown")
    start, end = day_window(day)
    try:
        bars = call_source(client, "fetch_ohlcv", timeframe, start, end, symbols)
    except SourceCannotServe as exc:
        return empty(dataset, str(exc), source)
    bars = bars.with_columns(pl.col("ts").cast(parquet_store.TS))
    inside = bars.filter((pl.col("ts") >= start) & (pl.col("ts") < end) | pl.col("ts").is_null())
    valid, rejected = split_valid_ohlcv(inside, key=("symbol", "ts"))
    expected_syms = pl.DataFrame({"symbol": symbols or valid["symbol"].unique().to_list()}, schema={"symbol": pl.String})
    if markets is not None and "listed_from" in markets.columns:
        expected_syms = expected_syms.join(markets.select("symbol", "listed_from"), on="symbol", how="left")
    expected = expected_bars(expected_syms, start, end, timeframe, now=now)
    last_close = previous.sort("ts").group_by("symbol").agg(pl.col("close").last()) if not previous.is_empty() else None
    stored, unfilled = fill_gaps(valid, expected, max_fill_bars, last_close)
    meta = {
        "rows": len(stored), "symbols": stored["symbol"].n_unique(), "source": source, "data_available": True,
        "quarantined_rows": len(rejected), "filled_bars": int(stored["filled"].sum()),
        "unfilled_gaps": len(unfilled), "rows_outside_day": len(bars) - len(inside),
    }
    return Ingested(stored, rejected, meta)


def ingest_trades(client: object, day: date, symbols: list[str] | None) -> Ingested:
    """Public trades of one UTC day for each symbol, validated; rerun replaces the day."""
    source = getattr(client, "name", "unknown")
    if not symbols:
        return empty("trades", "no symbol list: the source cannot list its markets and none are configured", source)
    start, end = day_window(day)
    frames = []
    try:
        for symbol in symbols:
            frames.append(call_source(client, "fetch_trades", symbol, start, end))
    except SourceCannotServe as exc:
        return empty("trades", str(exc), source)
    trades = pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("ts").cast(parquet_store.TS), pl.col("trade_id").cast(pl.String))
    inside = trades.filter((pl.col("ts") >= start) & (pl.col("ts") < end) | pl.col("ts").is_null())
    valid, rejected = split_valid_trades(inside)
    meta = {"rows": len(valid), "symbols": valid["symbol"].n_unique(), "source": source, "data_available": True,
            "quarantined_rows": len(rejected), "rows_outside_day": len(trades) - len(inside)}
    return Ingested(valid, rejected, meta)


def ingest_order_books(
    client: object, day: date, symbols: list[str] | None, depth: int, existing: pl.DataFrame, now: datetime
) -> Ingested:
    """A top-`depth` snapshot of each symbol's book, added to the day's earlier snapshots (same ts replaced).

    Books exist only live: a partition other than today's (UTC) records nothing new."""
    source = getattr(client, "name", "unknown")
    start, end = day_window(day)
    if not start <= now < end:
        note = f"order books are live snapshots; partition {day} is not today ({now.date()} UTC)"
        kept = empty("order_book", note, source)
        if not existing.is_empty():
            kept.rows, kept.metadata["rows"] = existing, len(existing)
        return kept
    if not symbols:
        return empty("order_book", "no symbol list: the source cannot list its markets and none are configured", source)
    frames = []
    try:
        for symbol in symbols:
            frames.append(call_source(client, "fetch_order_book", symbol, depth))
    except SourceCannotServe as exc:
        return empty("order_book", str(exc), source)
    book = pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("ts").cast(parquet_store.TS))
    book = book.filter(pl.col("level").is_null() | (pl.col("level") <= depth))  # level 1 = best (sources.py)
    valid, rejected = split_valid_order_book(book)
    if not existing.is_empty():
        existing = parquet_store.conform("order_book", existing)
        new_snapshots = valid.select("symbol", "ts").unique()
        valid = pl.concat(
            [existing.join(new_snapshots, on=["symbol", "ts"], how="anti"), parquet_store.conform("order_book", valid)],
            how="vertical_relaxed",
        )
    meta = {"rows": len(valid), "symbols": valid["symbol"].n_unique(), "source": source, "data_available": True,
            "quarantined_rows": len(rejected), "snapshots": valid.select("symbol", "ts").n_unique()}
    return Ingested(valid, rejected, meta)
