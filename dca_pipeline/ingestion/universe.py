"""The investable universe at a point in time: symbols with a recent valid bar, minus excluded bases."""
from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from dca_pipeline.config import Settings
from dca_pipeline.storage.raw_store import read_daily_window


def history_before(month_start: date, days: int) -> pl.DataFrame:
    """Stored raw bars of the `days` days before `month_start` (the monthly run sees nothing later)."""
    return read_daily_window("raw_ohlcv_1d", month_start - timedelta(days=days), month_start - timedelta(days=1))


def investable(bars: pl.DataFrame, as_of: date, settings: Settings) -> pl.DataFrame:
    """Symbols with a bar on `as_of` whose base is not excluded (stablecoins and the like)."""
    excluded = [f"{b}/BRL" for b in settings.excluded_bases]
    return bars.filter((pl.col("date") == as_of) & ~pl.col("symbol").is_in(excluded)).select("symbol").unique().sort("symbol")
