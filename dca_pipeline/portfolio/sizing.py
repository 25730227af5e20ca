"""Position-sizing overlays on optimized weights: volatility targeting, risk budgeting, fractional Kelly,
per-position VaR caps and regime-based risk scaling. Pure functions; what they take out of assets stays cash.

Weights are fractions of the portfolio (Σ ≤ 1); `cov` is annualized (× 365) with the weights' symbols.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dca_pipeline.analytics.indicators import ANNUALIZATION_DAYS

if TYPE_CHECKING:
    from dca_pipeline.config import SizingSettings


def _vector(weights: dict[str, float], cov: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    symbols = [s for s in weights if s in cov.index]
    missing = [s for s in weights if s not in cov.index]
    if missing:
        raise ValueError(f"no covariance for weighted symbols {missing}")
    return symbols, np.array([weights[s] for s in symbols], float)


def portfolio_volatility(weights: dict[str, float], cov: pd.DataFrame) -> float:
    """Annualized volatility √(wᵀΣw) of the weights (cash has none)."""
    symbols, w = _vector(weights, cov)
    return float(math.sqrt(max(0.0, w @ cov.loc[symbols, symbols].to_numpy() @ w)))


def scale(weights: dict[str, float], factor: float) -> dict[str, float]:
    """Every weight × factor (factor ≤ 1 moves the difference to cash)."""
    return {s: w * factor for s, w in weights.items()}


def volatility_scaling(weights: dict[str, float], cov: pd.DataFrame, target_volatility: float) -> tuple[dict[str, float], float]:
    """Scale exposure down so the portfolio's volatility is at most `target_volatility`; returns (weights, factor)."""
    vol = portfolio_volatility(weights, cov)
    factor = min(1.0, target_volatility / vol) if vol > 0 else 1.0
    return scale(weights, factor), factor


def risk_contributions(weights: dict[str, float], cov: pd.DataFrame) -> dict[str, float]:
    """Each asset's share of portfolio variance, w_i (Σw)_i / wᵀΣw (sums to 1)."""
    symbols, w = _vector(weights, cov)
    sigma_w = cov.loc[symbols, symbols].to_numpy() @ w
    total = float(w @ sigma_w)
    return {s: float(w[i] * sigma_w[i] / total) if total > 0 else 0.0 for i, s in enumerate(symbols)}


def risk_budgeting(cov: pd.DataFrame, budgets: dict[str, float], invested: float = 1.0) -> dict[str, float]:
    """Long-only weights (summing to `invested`) whose risk contributions are proportional to `budgets`."""
    from dca_pipeline.portfolio.methods import equal_risk_contribution

    symbols = list(budgets)
    b = np.array([budgets[s] for s in symbols], float)
    if np.any(b <= 0):
        raise ValueError(f"risk budgets must be positive, got {budgets}")
    w = equal_risk_contribution(cov.loc[symbols, symbols].to_numpy(), b)
    return {s: float(x) * invested for s, x in zip(symbols, w)}


def kelly_exposure(weights: dict[str, float], mu: pd.Series, cov: pd.DataFrame, risk_free_rate: float, fraction: float) -> float:
    """Fraction × the Kelly-optimal leverage of this portfolio, (μ_p − r_f) / σ_p², clipped to [0, 1].

    Full Kelly maximizes log growth but is far too aggressive with estimated μ; ¼–½ Kelly is the usual choice.
    """
    symbols, w = _vector(weights, cov)
    total = w.sum()
    if total <= 0:
        return 0.0
    unit = w / total
    excess = float(unit @ mu.reindex(symbols).to_numpy()) - risk_free_rate
    var = float(unit @ cov.loc[symbols, symbols].to_numpy() @ unit)
    if var <= 0:
        return 1.0
    return float(min(1.0, max(0.0, fraction * excess / var)))


def fractional_kelly(weights: dict[str, float], mu: pd.Series, cov: pd.DataFrame, risk_free_rate: float, fraction: float) -> tuple[dict[str, float], float]:
    """Scale exposure down to the fractional-Kelly exposure when it is below the current one; returns (weights, factor)."""
    total = sum(weights.values())
    if total <= 0:
        return dict(weights), 1.0
    factor = min(1.0, kelly_exposure(weights, mu, cov, risk_free_rate, fraction) / total)
    return scale(weights, factor), factor


def var_caps(
    weights: dict[str, float], cov: pd.DataFrame, max_asset_var: float, confidence: float = 0.95, horizon_days: int = 1
) -> tuple[dict[str, float], list[str]]:
    """Cap each position so its parametric VaR, z · σ_i,daily · √h · w_i, is at most `max_asset_var` of the portfolio.

    σ_i,daily = √(Σ_ii / 365). The excess goes to cash; returns the capped weights and the symbols that were cut.
    """
    z = NormalDist().inv_cdf(confidence)
    out, cut = {}, []
    for s, w in weights.items():
        sigma = math.sqrt(float(cov.loc[s, s]) / ANNUALIZATION_DAYS * horizon_days)
        limit = max_asset_var / (z * sigma) if sigma > 0 else w
        out[s] = min(w, limit)
        if w > limit + 1e-12:
            cut.append(s)
    return out, cut


def regime_scaling(
    weights: dict[str, float],
    cov: pd.DataFrame,
    regime: str | None,
    exposure: dict[str, float],
    low_vol_tilt: dict[str, float],
    caps: dict[str, float] | None = None,
) -> tuple[dict[str, float], float]:
    """Lower the risk budget in bad regimes: tilt toward low-volatility names, w_i ∝ w_i · (σ̃/σ_i)^tilt, keeping
    the invested total (each weight ≤ its cap, the excess to cash), then scale exposure by `exposure[regime]`.

    Unknown or missing regime → unchanged (factor 1). Returns (weights, exposure factor).
    """
    if regime is None or regime not in exposure:
        return dict(weights), 1.0
    total = sum(weights.values())
    tilt = float(low_vol_tilt.get(regime, 0.0))
    out = dict(weights)
    if tilt > 0 and total > 0:
        sigma = {s: math.sqrt(float(cov.loc[s, s])) for s in weights}
        ref = float(np.median(list(sigma.values())))
        raw = {s: w * (ref / sigma[s]) ** tilt if sigma[s] > 0 else w for s, w in weights.items()}
        norm = total / sum(raw.values()) if sum(raw.values()) > 0 else 0.0
        out = {s: v * norm for s, v in raw.items()}
        if caps:
            out = {s: min(v, caps.get(s, 1.0)) for s, v in out.items()}
    factor = min(1.0, max(0.0, float(exposure[regime])))
    return scale(out, factor), factor


def apply_sizing(
    weights: dict[str, float],
    mu: pd.Series,
    cov: pd.DataFrame,
    settings: SizingSettings,
    risk_free_rate: float,
    regime: str | None = None,
    caps: dict[str, float] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """The configured overlays in order: regime → VaR caps → volatility target → fractional Kelly; with notes."""
    notes: list[str] = []
    out = dict(weights)
    if not out:
        return out, notes
    if settings.regime_scaling:
        out, f = regime_scaling(out, cov, regime, settings.regime_exposure, settings.regime_low_vol_tilt, caps)
        notes.append(f"regime {regime or 'unknown'}: exposure × {f:.2f}")
    if settings.max_asset_var is not None:
        out, cut = var_caps(out, cov, settings.max_asset_var, settings.var_confidence)
        notes.append(f"VaR cap {settings.max_asset_var:.2%} cut {', '.join(cut) or 'nothing'}")
    if settings.target_volatility is not None:
        out, f = volatility_scaling(out, cov, settings.target_volatility)
        notes.append(f"volatility target {settings.target_volatility:.0%}: exposure × {f:.3f}")
    if settings.kelly_fraction is not None:
        out, f = fractional_kelly(out, mu, cov, risk_free_rate, settings.kelly_fraction)
        notes.append(f"{settings.kelly_fraction:g} Kelly: exposure × {f:.3f}")
    return out, notes
