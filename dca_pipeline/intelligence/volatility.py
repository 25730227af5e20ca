"""GARCH(1,1) volatility forecasts per coin, point in time, compared with trailing realized volatility."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dca_pipeline.intelligence.garch import fit_garch11, forecast_mean_variance

MIN_GARCH_OBS = 100
GARCH_LOOKBACK_DAYS = 365  # a forecast reads the closes of the year ending on its as-of day
REALIZED_WINDOW = 30
ANNUALIZE = math.sqrt(365)


@dataclass(frozen=True)
class GarchForecast:
    """Annualized volatility forecast; `method` says whether GARCH or the sample-std fallback produced it."""

    annualized_vol: float
    omega: float
    alpha: float
    beta: float
    persistence: float
    converged: bool
    n_obs: int
    method: str


def _clean(log_returns: pl.Series | np.ndarray) -> np.ndarray:
    """Finite float returns only (nulls and NaNs dropped)."""
    if isinstance(log_returns, pl.Series):
        log_returns = log_returns.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    r = np.asarray(log_returns, dtype=float).ravel()
    return r[np.isfinite(r)]


def _fallback(r: np.ndarray) -> GarchForecast:
    """Sample std × sqrt(365) for series too short (or too awkward) for GARCH; NaN when under 2 returns."""
    vol = float(np.std(r, ddof=1)) * ANNUALIZE if len(r) >= 2 else float("nan")
    nan = float("nan")
    return GarchForecast(vol, nan, nan, nan, nan, False, len(r), "sample_std_fallback")


def garch_forecast(log_returns: pl.Series | np.ndarray, horizon: int = 30) -> GarchForecast:
    """Fit GARCH(1,1) on percent log returns and annualize the mean forecast variance over `horizon` days.

    The fit is `garch.fit_garch11` (the model `arch` fits, with exact gradients; tested against arch).
    Never raises on data: fewer than 100 returns (or a failed fit) falls back to the sample std;
    `converged` reports the optimizer's status.
    """
    r = _clean(log_returns)
    if len(r) < MIN_GARCH_OBS:
        return _fallback(r)
    try:
        fit = fit_garch11(100 * r)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return _fallback(r)
    omega, alpha, beta = fit.omega, fit.alpha, fit.beta
    variance = forecast_mean_variance(fit, horizon)
    vol = math.sqrt(variance) / 100 * ANNUALIZE
    if not math.isfinite(vol):
        return _fallback(r)
    return GarchForecast(vol, omega, alpha, beta, alpha + beta, fit.converged, len(r), "garch11")


def volatility_regime_scores(
    closes_long: pl.DataFrame, as_of: date, lookback_days: int = GARCH_LOOKBACK_DAYS, horizon: int = 30
) -> pl.DataFrame:
    """Per symbol: GARCH forecast vs realized 30-day vol, from closes in (as_of - lookback_days, as_of].

    `vol_ratio` > 1 means GARCH expects volatility to rise. `realized_vol_30` (and the ratio) is null
    with fewer than 30 returns. Rows after `as_of` are ignored, so the scores are point in time.
    """
    window = closes_long.filter(
        (pl.col("date") <= as_of) & (pl.col("date") > as_of - timedelta(days=lookback_days))
    ).sort("symbol", "date")
    returns = window.with_columns(
        (pl.col("close") / pl.col("close").shift(1).over("symbol")).log().alias("r")
    ).filter(pl.col("r").is_finite())
    by_symbol = {key[0]: part["r"].to_numpy() for key, part in returns.partition_by("symbol", as_dict=True).items()}
    empty = np.empty(0)
    rows = []
    for symbol in window["symbol"].unique().sort().to_list():
        r = by_symbol.get(symbol, empty)
        fc = garch_forecast(r, horizon)
        realized = float(np.std(r[-REALIZED_WINDOW:], ddof=1)) * ANNUALIZE if len(r) >= REALIZED_WINDOW else None
        ratio = fc.annualized_vol / realized if realized and math.isfinite(fc.annualized_vol) else None
        garch_vol = fc.annualized_vol if math.isfinite(fc.annualized_vol) else None
        rows.append((symbol, garch_vol, realized, ratio, fc.method, fc.converged))
    schema = {
        "symbol": pl.String,
        "garch_vol": pl.Float64,
        "realized_vol_30": pl.Float64,
        "vol_ratio": pl.Float64,
        "method": pl.String,
        "converged": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
