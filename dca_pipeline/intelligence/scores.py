"""Multi-factor scores: momentum (30/90/180 days) and RSI/Bollinger mean reversion, z-scored within tier."""
from __future__ import annotations

from datetime import date, timedelta

import polars as pl

MOMENTUM_WINDOWS = (30, 90, 180)
MOMENTUM_WEIGHT = 0.6
REVERSION_WEIGHT = 0.4


def momentum(closes: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Log return over each window ending at `as_of`, from the last close on or before each endpoint."""
    closes = closes.filter(pl.col("date") <= as_of).sort("symbol", "date")
    last = closes.group_by("symbol").agg(pl.col("close").last().alias("close_now"), pl.col("date").last().alias("d_now"))
    out = last
    for w in MOMENTUM_WINDOWS:
        start = as_of - timedelta(days=w)
        past = (
            closes.filter(pl.col("date") <= start)
            .group_by("symbol")
            .agg(pl.col("close").last().alias("close_then"), pl.col("date").last().alias("d_then"))
            .filter(pl.col("d_then") >= start - timedelta(days=7))  # a stale past price is no momentum signal
        )
        out = out.join(past, on="symbol", how="left").with_columns(
            (pl.col("close_now") / pl.col("close_then")).log().alias(f"mom_{w}")
        ).drop("close_then", "d_then")
    return out.filter(pl.col("d_now") >= as_of - timedelta(days=7)).drop("close_now", "d_now")


def zscore(col: str, by: str = "tier") -> pl.Expr:
    """Cross-sectional z-score within `by`; 0 when the group has one member or no dispersion."""
    std = pl.col(col).std().over(by)
    return pl.when(std > 0).then((pl.col(col) - pl.col(col).mean().over(by)) / std).otherwise(0.0).fill_null(0.0)


def score_assets(tiers: pl.DataFrame, mom: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """Composite score per tiered symbol: 0.6 × momentum z + 0.4 × mean-reversion z (each within tier).

    Mean reversion is positive when RSI is below 50 and when the close sits low in its Bollinger band.
    Symbols missing a factor get a neutral 0 for it and a `factors_missing` count.
    """
    frame = (
        tiers.filter(pl.col("tier").is_not_null())
        .select("symbol", "tier")
        .join(mom, on="symbol", how="left")
        .join(features.select("symbol", "rsi_14", "bb_pctb"), on="symbol", how="left")
        .with_columns(
            ((50 - pl.col("rsi_14")) / 50).alias("rsi_reversion"),
            (0.5 - pl.col("bb_pctb")).alias("bb_reversion"),
        )
    )
    factor_cols = [f"mom_{w}" for w in MOMENTUM_WINDOWS] + ["rsi_reversion", "bb_reversion"]
    frame = frame.with_columns(pl.sum_horizontal([pl.col(c).is_null() for c in factor_cols]).alias("factors_missing"))
    frame = frame.with_columns(**{f"z_{c}": zscore(c) for c in factor_cols})
    mom_z = pl.mean_horizontal([pl.col(f"z_mom_{w}") for w in MOMENTUM_WINDOWS])
    rev_z = pl.mean_horizontal(pl.col("z_rsi_reversion"), pl.col("z_bb_reversion"))
    return (
        frame.with_columns(mom_z.alias("momentum_score"), rev_z.alias("reversion_score"))
        .with_columns((MOMENTUM_WEIGHT * pl.col("momentum_score") + REVERSION_WEIGHT * pl.col("reversion_score")).alias("score"))
        .with_columns(pl.col("score").rank("ordinal", descending=True).over("tier").alias("rank_in_tier"))
        .sort("tier", "rank_in_tier")
    )
