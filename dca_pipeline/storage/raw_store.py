"""Read windows of raw partitions back from the Hive-partitioned Parquet store (history for features), and the
quarantine of rejected rows (`ingestion.quarantine` in the warehouse)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from dca_pipeline.storage import parquet_store, quarantine


def raw_dir(asset: str) -> Path:
    """The dataset folder an asset's partitions live in (`raw_ohlcv_1d` -> `$DCA_HOME/raw/ohlcv_1d`)."""
    return parquet_store.dataset_dir(parquet_store.dataset_for(asset))


def read_daily_window(asset: str, start: date, end: date, symbols: list[str] | None = None) -> pl.DataFrame:
    """All stored rows of a daily raw asset for start <= date <= end (missing days are simply absent)."""
    frame = parquet_store.read_range(parquet_store.dataset_for(asset), start, end, symbols)
    return frame if len(frame) or frame.columns else pl.DataFrame()


def write_quarantine_range(db: Path, asset: str, keys: list[str], rows: pl.DataFrame, source: str = "",
                           column: str = "date") -> int:
    """Replace the quarantined rows of every partition key of a range in one transaction: each key's rows are those
    whose `column` (as ISO text) is the key; keys without rows are cleared (an empty frame clears them all).
    Returns how many were stored."""
    dataset = parquet_store.dataset_for(asset)
    parts = rows.with_columns(pl.col(column).cast(pl.String).alias("__key")).partition_by("__key", as_dict=True) if len(rows) else {}
    frames = []
    for (key,), part in parts.items():
        frames.append(quarantine.to_records(dataset, str(key), part.drop("__key"), source))
    records = pl.concat(frames) if frames else pl.DataFrame(schema=quarantine.COLUMNS)
    quarantine.replace_many(db, dataset, keys, records)
    return len(records)


def read_quarantine(db: Path, asset: str, start: date, end: date) -> pl.DataFrame:
    """Quarantined rows (symbol, date, reason, ts, source, row_json ...) for start <= partition <= end."""
    rows = quarantine.read(db, parquet_store.dataset_for(asset), start, end)
    return rows.with_columns(pl.col("ts").dt.date().alias("date")).select(
        "symbol", "date", "reason", *[c for c in rows.columns if c not in ("symbol", "reason")]
    )
