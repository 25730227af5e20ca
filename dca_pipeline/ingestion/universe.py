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


BAR_RECENCY_DAYS = 7  # a coin "has bars" for a month if it has one on the eve or within the 7 days before it


def _with_symbol(frame: pl.DataFrame) -> pl.DataFrame:
    return frame if "symbol" in frame.columns else frame.with_columns((pl.col("base") + "/BRL").alias("symbol"))


def snapshot_for_month(month: date, snapshots: pl.DataFrame) -> pl.DataFrame:
    """The month's snapshot: the latest `snapshot_date` on or before the month's first day (point in time)."""
    known = snapshots.filter(pl.col("snapshot_date") <= month)
    if known.is_empty():
        first, last = snapshots["snapshot_date"].min(), snapshots["snapshot_date"].max()
        raise ValueError(f"no universe snapshot on or before {month}; snapshots cover {first} → {last}")
    return _with_symbol(known.filter(pl.col("snapshot_date") == known["snapshot_date"].max()))


def universe_for_month(month: date, snapshots: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """Point-in-time universe of `month`: every coin in the month's snapshot or with recent bars, and whether
    it may be invested in.

    `snapshots` has snapshot_date, base or symbol, rank, market_cap_usd, volume_24h_usd; `bars` has date and
    base or symbol. Returns symbol, rank, market_cap_usd, volume_24h_usd, in_snapshot, has_bars, investable:
    investable = the snapshot lists the coin AND it has a bar on the month's eve or in the 7 days before it.
    Nothing on or after `month` is read.
    """
    month = month.replace(day=1)
    snap = snapshot_for_month(month, snapshots).select(
        "symbol", "rank", "market_cap_usd", "volume_24h_usd", pl.lit(True).alias("in_snapshot")
    )
    eve = month - timedelta(days=1)
    recent = (
        _with_symbol(bars).filter(pl.col("date").is_between(eve - timedelta(days=BAR_RECENCY_DAYS - 1), eve))
        .select("symbol").unique().with_columns(pl.lit(True).alias("has_bars"))
    )
    out = snap.join(recent, on="symbol", how="full", coalesce=True).with_columns(
        pl.col("in_snapshot").fill_null(False), pl.col("has_bars").fill_null(False)
    )
    return out.with_columns((pl.col("in_snapshot") & pl.col("has_bars")).alias("investable")).sort(
        pl.col("rank").fill_null(1_000_000), "symbol"
    )


def coverage_for_month(
    month: date, snapshots: pl.DataFrame, bars: pl.DataFrame, rank_band: tuple[int, int] | None = None
) -> pl.DataFrame:
    """How much of the month's snapshot the bars can see: one row per scope ('all', and 'rank a-b' when a band
    is given) with members, members_with_bars, members_without_bars, mcap_usd_with_bars, mcap_usd_without_bars,
    mcap_share_with_bars (of the scope's total market cap)."""
    members = universe_for_month(month, snapshots, bars).filter(pl.col("in_snapshot"))
    scopes = [("all", members)]
    if rank_band is not None:
        lo, hi = rank_band
        scopes.append((f"rank {lo}-{hi}", members.filter(pl.col("rank").is_between(lo, hi))))
    rows = []
    for scope, part in scopes:
        with_bars, without = part.filter(pl.col("has_bars")), part.filter(~pl.col("has_bars"))
        cap_with, cap_without = float(with_bars["market_cap_usd"].sum()), float(without["market_cap_usd"].sum())
        total = cap_with + cap_without
        rows.append({
            "month": month.replace(day=1), "scope": scope, "members": len(part),
            "members_with_bars": len(with_bars), "members_without_bars": len(without),
            "mcap_usd_with_bars": cap_with, "mcap_usd_without_bars": cap_without,
            "mcap_share_with_bars": cap_with / total if total > 0 else None,
        })
    return pl.DataFrame(rows, schema_overrides={"mcap_share_with_bars": pl.Float64})
