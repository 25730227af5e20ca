"""Read windows of raw partitions back from `$DCA_HOME/raw/<asset>/<key>.parquet` (history for features)."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dca_pipeline.paths import dca_home


def raw_dir(asset: str) -> Path:
    return dca_home() / "raw" / asset


def read_daily_window(asset: str, start: date, end: date) -> pl.DataFrame:
    """All stored rows of a daily raw asset for start <= date <= end (missing days are simply absent)."""
    files = []
    day = start
    while day <= end:
        path = raw_dir(asset) / f"{day.isoformat()}.parquet"
        if path.exists():
            files.append(path)
        day += timedelta(days=1)
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def write_quarantine(asset: str, key: str, rows: pl.DataFrame) -> Path:
    """Replace the quarantine file of one partition (an empty frame clears it): bad rows are kept, with a reason."""
    folder = dca_home() / "quarantine" / asset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.parquet"
    if rows.is_empty():
        path.unlink(missing_ok=True)
    else:
        rows.write_parquet(path)
    return path


def read_quarantine(asset: str, start: date, end: date) -> pl.DataFrame:
    """Quarantined rows (with their `reason`) for start <= date <= end."""
    folder = dca_home() / "quarantine" / asset
    files = [folder / f"{start + timedelta(days=i)}.parquet" for i in range((end - start).days + 1)]
    present = [f for f in files if f.exists()]
    if not present:
        return pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "reason": pl.String})
    return pl.concat([pl.read_parquet(f) for f in present], how="vertical_relaxed")
