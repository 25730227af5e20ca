"""Retention of raw Parquet partitions: which day partitions are past their dataset's keep window, and removing them."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from dca_pipeline.storage import parquet_store, quarantine


def expired_partitions(partitions: list[str], today: date, keep_days: int | None) -> list[str]:
    """Day partitions older than the last `keep_days` days up to `today` (None keeps everything)."""
    if keep_days is None:
        return []
    oldest_kept = today - timedelta(days=keep_days - 1)
    return sorted(p for p in partitions if date.fromisoformat(p) < oldest_kept)


def apply_retention(
    retention: dict[str, int | None], today: date, db: Path | None = None, root: Path | None = None
) -> dict[str, list[str]]:
    """Delete expired partitions (and their quarantine rows when `db` is given); returns what was removed per dataset."""
    removed: dict[str, list[str]] = {}
    for dataset, keep_days in retention.items():
        expired = expired_partitions(parquet_store.stored_partitions(dataset, root=root), today, keep_days)
        gone = [p for p in expired if parquet_store.delete_partition(dataset, p, root=root)]
        if db is not None:
            quarantine.delete_partitions(db, dataset, gone)
        removed[dataset] = gone
    return removed
