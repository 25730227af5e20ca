"""Assign each listed coin to one market-cap tier, point in time: by USD band (the seed) or by snapshot rank."""
from __future__ import annotations

import polars as pl

from datetime import date, timedelta

from dca_pipeline.config import Settings, Tier


def average_volume_brl(bars: pl.DataFrame) -> pl.DataFrame:
    """Mean daily BRL volume per symbol over the given bars."""
    return bars.group_by("symbol").agg(pl.col("volume_brl").mean().alias("avg_volume_brl"), pl.len().alias("volume_days"))


def with_rank(caps: pl.DataFrame) -> pl.DataFrame:
    """The snapshot with a `rank` column: the snapshot's own rank when it has one, else the market-cap order
    (1 = largest) among the snapshot's rows."""
    if "rank" in caps.columns:
        return caps.with_columns(pl.col("rank").cast(pl.Int64))
    return caps.with_columns(pl.col("market_cap_usd").rank("ordinal", descending=True).cast(pl.Int64).alias("rank"))


def assign_tiers(
    universe: pl.DataFrame, caps: pl.DataFrame, volume: pl.DataFrame, tiers: tuple[Tier, ...], by: str = "usd"
) -> pl.DataFrame:
    """One row per universe symbol with its tier (null if none), its snapshot market cap and rank, and the reason.

    `by="usd"`: the seed's USD ranges, which overlap ($50-400M, $20-150M, $5-50M): a coin goes to the smallest-cap
    tier whose range and volume floor it meets. `by="rank"`: the rank band in the month's snapshot (1 = largest),
    the largest rank number first for overlapping bands. A coin the snapshot does not list gets no tier.
    """
    snap = with_rank(caps)
    frame = (
        universe.select("symbol")
        .unique()
        .join(snap.select("symbol", "market_cap_usd", "rank"), on="symbol", how="left")
        .join(volume.select("symbol", "avg_volume_brl"), on="symbol", how="left")
    )
    col = "market_cap_usd" if by == "usd" else "rank"
    small_first = (lambda t: t.bounds(by)) if by == "usd" else (lambda t: tuple(-x for x in t.bounds(by)))
    ordered = sorted(tiers, key=small_first)  # the smallest-cap tier wins where ranges overlap
    tier_expr = pl.lit(None, dtype=pl.String)
    for tier in reversed(ordered):
        lo_t, hi_t = tier.bounds(by)
        fits = pl.col(col).is_between(lo_t, hi_t) & (pl.col("avg_volume_brl") >= tier.daily_volume_min_brl)
        tier_expr = pl.when(fits).then(pl.lit(tier.name)).otherwise(tier_expr)
    lo = min(t.bounds(by)[0] for t in tiers)
    hi = max(t.bounds(by)[1] for t in tiers)
    above, below = (pl.col(col) > hi, pl.col(col) < lo) if by == "usd" else (pl.col(col) < lo, pl.col(col) > hi)
    big, small = ("market cap above all tiers", "market cap below all tiers") if by == "usd" else (
        "rank above all tiers (larger cap)", "rank below all tiers (smaller cap)")
    reason = (
        pl.when(pl.col("tier").is_not_null())
        .then(pl.lit("eligible"))
        .when(pl.col("market_cap_usd").is_null() & pl.col("rank").is_null())
        .then(pl.lit("no market cap in snapshot"))
        .when(above)
        .then(pl.lit(big))
        .when(below)
        .then(pl.lit(small))
        .when(pl.col(col).is_null())
        .then(pl.lit(f"no {col} in snapshot"))
        .when(pl.col("avg_volume_brl").is_null())
        .then(pl.lit("no volume history"))
        .otherwise(pl.lit("BRL volume below tier floor"))
    )
    return frame.with_columns(tier_expr.alias("tier")).with_columns(reason.alias("reason")).sort("symbol")


def empty_tiers(assigned: pl.DataFrame, tiers: tuple[Tier, ...]) -> list[str]:
    """Configured tiers without a single member in `assigned` (a frame with a `tier` column)."""
    present = set(assigned["tier"].drop_nulls().to_list()) if "tier" in assigned.columns else set()
    return [t.name for t in tiers if t.name not in present]


def empty_tier_warning(empty: list[str], tiers: tuple[Tier, ...]) -> str:
    """The loud message for empty tiers: which, and whose allocation target goes to the other tiers."""
    if not empty:
        return "none"
    share = sum(float(t.allocation_target) for t in tiers if t.name in empty)
    return (
        f"EMPTY TIER: {', '.join(empty)} has no eligible coin this month; its {share:.0%} allocation target is "
        "renormalized over the non-empty tiers (see target_weights policy_notes)"
    )


VOLUME_WINDOW_DAYS = 30
TIER_COLUMNS = ("month", "symbol", "tier", "market_cap_usd", "rank", "avg_volume_brl", "reason")


def tiers_for_month(bars: pl.DataFrame, caps: pl.DataFrame, month: date, settings: Settings) -> pl.DataFrame:
    """The month's tier table from bars before the month: the universe listed on the month's eve (minus
    excluded bases), 30-day mean BRL volume, and the market caps and ranks known at the month's start."""
    from dca_pipeline.ingestion.universe import investable

    eve = month - timedelta(days=1)
    recent = bars.filter(pl.col("date").is_between(month - timedelta(days=VOLUME_WINDOW_DAYS), eve))
    universe = investable(recent, eve, settings)
    tiers = assign_tiers(universe, caps, average_volume_brl(recent), settings.tiers, settings.tiers_by)
    return tiers.with_columns(pl.lit(month).alias("month")).select(*TIER_COLUMNS)
