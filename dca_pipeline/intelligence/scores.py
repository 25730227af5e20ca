"""Multi-factor scores, point in time: every factor is computed only from data dated on or before `as_of`.

Factor groups (weights in configuration): momentum (risk-adjusted 30/90/180-day, exponentially decayed),
mean reversion (RSI, Bollinger %b), liquidity (BRL volume level and surge), volatility regime (GARCH
forecast vs realized) and diversification (low correlation with the other candidates). Each raw factor is
z-scored within tier, a group's score is the mean of its z-scores, and the composite is the weighted sum.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl

from dca_pipeline.config import ScoringWeights
from dca_pipeline.intelligence.spread import FACTOR as SPREAD_FACTOR, spread_factor

MOMENTUM_WINDOWS = (30, 90, 180)
MIN_COVERAGE = 0.8  # a window needs 80% of its days to yield a momentum value
FACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "momentum": tuple(f"mom_{w}" for w in MOMENTUM_WINDOWS),
    "mean_reversion": ("rsi_reversion", "bb_reversion"),
    "liquidity": ("log_volume_30", "volume_surge", SPREAD_FACTOR),  # spread: intelligence/spread.py
    "volatility_regime": ("vol_calming",),
    "diversification": ("diversification",),
}
OPTIONAL_FACTORS = (SPREAD_FACTOR,)  # left out of their group when no coin has a value (no order books stored)


def _returns(bars: pl.DataFrame, as_of: date) -> pl.DataFrame:
    return (
        bars.filter(pl.col("date") <= as_of)
        .sort("symbol", "date")
        .with_columns((pl.col("close") / pl.col("close").shift(1)).log().over("symbol").alias("r"))
        .drop_nulls("r")
    )


def risk_adjusted_momentum(bars: pl.DataFrame, as_of: date, windows: tuple[int, ...] = MOMENTUM_WINDOWS) -> pl.DataFrame:
    """Per window w: exponentially decayed mean daily log return (half-life w/2) over its std, × √365.

    A decayed Sharpe-like trend measure: recent moves count more, and volatile coins need a stronger trend.
    """
    rets = _returns(bars, as_of)
    out = rets.select("symbol").unique()
    for w in windows:
        window = rets.filter(pl.col("date") > as_of - timedelta(days=w))
        age = (pl.lit(as_of) - pl.col("date")).dt.total_days()
        weight = (-math.log(2) * age / (w / 2)).exp()
        stats = window.with_columns(weight.alias("wt")).group_by("symbol").agg(
            ((pl.col("r") * pl.col("wt")).sum() / pl.col("wt").sum()).alias("m"),
            pl.col("r").std().alias("s"),
            pl.len().alias("n"),
        )
        stats = stats.with_columns(
            pl.when((pl.col("n") >= MIN_COVERAGE * w) & (pl.col("s") > 0))
            .then(pl.col("m") / pl.col("s") * math.sqrt(365))
            .alias(f"mom_{w}")
        )
        out = out.join(stats.select("symbol", f"mom_{w}"), on="symbol", how="left")
    return out


def liquidity(bars: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """log of the 30-day mean BRL volume, and the 7-day over 90-day mean volume (log ratio: a surge is > 0)."""
    recent = bars.filter(pl.col("date") <= as_of)

    def mean_volume(days: int, name: str) -> pl.DataFrame:
        return recent.filter(pl.col("date") > as_of - timedelta(days=days)).group_by("symbol").agg(
            pl.col("volume_brl").mean().alias(name)
        )

    v = mean_volume(30, "v30").join(mean_volume(7, "v7"), on="symbol", how="left").join(mean_volume(90, "v90"), on="symbol", how="left")
    return v.select(
        "symbol",
        pl.when(pl.col("v30") > 0).then(pl.col("v30").log()).alias("log_volume_30"),
        pl.when((pl.col("v7") > 0) & (pl.col("v90") > 0)).then((pl.col("v7") / pl.col("v90")).log()).alias("volume_surge"),
    )


def diversification(bars: pl.DataFrame, as_of: date, symbols: list[str], window: int = 90) -> pl.DataFrame:
    """Minus each coin's mean correlation with the other candidates over the last `window` days."""
    rets = _returns(bars, as_of).filter((pl.col("date") > as_of - timedelta(days=window)) & pl.col("symbol").is_in(symbols))
    wide = rets.pivot(on="symbol", index="date", values="r").sort("date")
    cols = [c for c in wide.columns if c != "date"]
    if len(cols) < 2:
        return pl.DataFrame(
            {"symbol": cols, "diversification": [0.0] * len(cols)}, schema={"symbol": pl.String, "diversification": pl.Float64}
        )
    corr = np.array(wide.select(cols).to_pandas().corr(min_periods=window // 2).to_numpy(), copy=True)
    np.fill_diagonal(corr, np.nan)
    valid = ~np.isnan(corr)
    counts = valid.sum(axis=1)
    mean_corr = np.where(counts > 0, np.where(valid, corr, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return pl.DataFrame({"symbol": cols, "diversification": [-float(x) if not np.isnan(x) else None for x in mean_corr]})


def compute_factors(bars: pl.DataFrame, features: pl.DataFrame, tiers: pl.DataFrame, as_of: date,
                    volatility: pl.DataFrame | None = None, books: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every raw factor for the tiered symbols, from bars, features and order books (None: none stored) dated
    on or before `as_of`.

    `volatility`: the tiered symbols' `volatility_regime_scores` as of `as_of` when the caller already has them
    (the backtest caches them); computed here otherwise."""
    from dca_pipeline.intelligence.volatility import volatility_regime_scores

    tiered = tiers.filter(pl.col("tier").is_not_null()).select("symbol", "tier")
    symbols = tiered["symbol"].to_list()
    hist = bars.filter((pl.col("date") <= as_of) & pl.col("symbol").is_in(symbols))
    feats = features.filter(pl.col("date") == as_of).select("symbol", "rsi_14", "bb_pctb")
    vol = volatility if volatility is not None else volatility_regime_scores(hist.select("symbol", "date", "close"), as_of)
    return (
        tiered.join(risk_adjusted_momentum(hist, as_of), on="symbol", how="left")
        .join(feats, on="symbol", how="left")
        .with_columns(
            ((50 - pl.col("rsi_14")) / 50).alias("rsi_reversion"),
            (0.5 - pl.col("bb_pctb")).alias("bb_reversion"),
        )
        .join(liquidity(hist, as_of), on="symbol", how="left")
        .join(
            vol.select("symbol", "garch_vol", "vol_ratio", pl.col("method").alias("garch_method")).with_columns(
                pl.when(pl.col("vol_ratio") > 0).then(-pl.col("vol_ratio").log()).alias("vol_calming")
            ),
            on="symbol",
            how="left",
        )
        .join(diversification(hist, as_of, symbols), on="symbol", how="left")
        .join(spread_factor(books, as_of, symbols), on="symbol", how="left")
    )


def zscore(col: str, by: str = "tier") -> pl.Expr:
    """Cross-sectional z-score within `by`; 0 when the group has one member, no dispersion or no value."""
    std = pl.col(col).std().over(by)
    return pl.when(std > 0).then((pl.col(col) - pl.col(col).mean().over(by)) / std).otherwise(0.0).fill_null(0.0)


def score_assets(factors: pl.DataFrame, weights: ScoringWeights | None = None, lstm_weight: float = 0.0) -> pl.DataFrame:
    """z-score every factor within tier, average them per group, and weight the groups into `score`.

    A missing factor counts as neutral (z = 0) and is counted in `factors_missing`. `lstm_weight` > 0 (the
    `lstm_momentum` flag) makes the momentum group (1 − w) × plain + w × the z-score of `lstm_mom`.
    """
    weights = weights or ScoringWeights()
    absent = {c for c in OPTIONAL_FACTORS if c not in factors.columns or factors[c].null_count() == len(factors)}
    groups = {g: tuple(c for c in group if c not in absent) for g, group in FACTOR_GROUPS.items()}
    cols = [c for group in groups.values() for c in group]
    frame = factors.with_columns(*[pl.lit(None, dtype=pl.Float64).alias(c) for c in cols if c not in factors.columns])
    frame = frame.with_columns(pl.sum_horizontal([pl.col(c).is_null() for c in cols]).alias("factors_missing"))
    frame = frame.with_columns(**{f"z_{c}": zscore(c) for c in cols})
    frame = frame.with_columns(
        **{f"{g}_score": pl.mean_horizontal([pl.col(f"z_{c}") for c in group]) for g, group in groups.items()}
    )
    if lstm_weight > 0:  # intelligence/lstm_momentum.py; a coin without an LSTM score counts as neutral
        frame = frame.with_columns(zscore("lstm_mom").alias("z_lstm_mom")).with_columns(
            ((1 - lstm_weight) * pl.col("momentum_score") + lstm_weight * pl.col("z_lstm_mom")).alias("momentum_score"))
    composite = pl.sum_horizontal([float(getattr(weights, g)) * pl.col(f"{g}_score") for g in FACTOR_GROUPS])
    return (
        frame.with_columns(composite.alias("score"))
        .with_columns(pl.col("score").rank("ordinal", descending=True).over("tier").alias("rank_in_tier"))
        .sort("tier", "rank_in_tier")
    )
