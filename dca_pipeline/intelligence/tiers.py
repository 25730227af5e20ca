"""Assign each listed coin to one of the seed's market-cap tiers, point in time."""
from __future__ import annotations

import polars as pl

from datetime import date, timedelta

from dca_pipeline.config import Settings, Tier


def average_volume_brl(bars: pl.DataFrame) -> pl.DataFrame:
    """Mean daily BRL volume per symbol over the given bars."""
    return bars.group_by("symbol").agg(pl.col("volume_brl").mean().alias("avg_volume_brl"), pl.len().alias("volume_days"))


def assign_tiers(
    universe: pl.DataFrame, caps: pl.DataFrame, volume: pl.DataFrame, tiers: tuple[Tier, ...]
) -> pl.DataFrame:
    """One row per universe symbol with its tier (null if none) and the reason.

    Tier ranges overlap in the seed ($50-400M, $20-150M, $5-50M); a coin goes to the smallest-cap tier whose
    range and volume floor it meets, so the speculative tiers get the small caps they are meant for.
    """
    frame = (
        universe.select("symbol")
        .unique()
        .join(caps.select("symbol", "market_cap_usd"), on="symbol", how="left")
        .join(volume.select("symbol", "avg_volume_brl"), on="symbol", how="left")
    )
    ordered = sorted(tiers, key=lambda t: (t.market_cap_min_usd, t.market_cap_max_usd))
    tier_expr = pl.lit(None, dtype=pl.String)
    for tier in reversed(ordered):
        fits = pl.col("market_cap_usd").is_between(tier.market_cap_min_usd, tier.market_cap_max_usd) & (
            pl.col("avg_volume_brl") >= tier.daily_volume_min_brl
        )
        tier_expr = pl.when(fits).then(pl.lit(tier.name)).otherwise(tier_expr)
    lo = min(t.market_cap_min_usd for t in tiers)
    hi = max(t.market_cap_max_usd for t in tiers)
    reason = (
        pl.when(pl.col("tier").is_not_null())
        .then(pl.lit("eligible"))
        .when(pl.col("market_cap_usd").is_null())
        .then(pl.lit("no market cap in snapshot"))
        .when(pl.col("market_cap_usd") > hi)
        .then(pl.lit("market cap above all tiers"))
        .when(pl.col("market_cap_usd") < lo)
        .then(pl.lit("market cap below all tiers"))
        .when(pl.col("avg_volume_brl").is_null())
        .then(pl.lit("no volume history"))
        .otherwise(pl.lit("BRL volume below tier floor"))
    )
    return frame.with_columns(tier_expr.alias("tier")).with_columns(reason.alias("reason")).sort("symbol")


VOLUME_WINDOW_DAYS = 30


def tiers_for_month(bars: pl.DataFrame, caps: pl.DataFrame, month: date, settings: Settings) -> pl.DataFrame:
    """The month's tier table from bars before the month: the universe listed on the month's eve (minus
    excluded bases), 30-day mean BRL volume, and the market caps known at the month's start."""
    from dca_pipeline.ingestion.universe import investable

    eve = month - timedelta(days=1)
    recent = bars.filter(pl.col("date").is_between(month - timedelta(days=VOLUME_WINDOW_DAYS), eve))
    universe = investable(recent, eve, settings)
    tiers = assign_tiers(universe, caps, average_volume_brl(recent), settings.tiers)
    return tiers.with_columns(pl.lit(month).alias("month")).select(
        "month", "symbol", "tier", "market_cap_usd", "avg_volume_brl", "reason"
    )
