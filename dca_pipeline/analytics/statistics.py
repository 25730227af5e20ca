"""Return and risk statistics: pure functions over polars/numpy, annualized with 365 days (crypto never closes).

Conventions shared by every function here:
- returns are per-period (daily) simple or log returns; NaN and null observations are dropped first;
- standard deviations are sample (ddof=1) unless stated otherwise;
- losses (VaR, CVaR) are reported as POSITIVE fractions, drawdown depths as NEGATIVE fractions;
- undefined results (empty input, too few observations) are NaN/None, never an exception.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from dca_pipeline.analytics.indicators import ANNUALIZATION_DAYS

if TYPE_CHECKING:  # pandas costs ≈0.5 s to import: not paid when the code location loads
    import pandas as pd

ReturnsLike = "pl.Series | Sequence[float] | np.ndarray | pd.Series"
DateLike = date | datetime | int

VAR_METHODS = ("historical", "parametric", "cornish_fisher")
_ZERO = 1e-12  # per-period dispersion/mean at or below this is treated as exactly zero (float noise)
_PAIR_SEP = "\x1f"


# --- returns and volatility -------------------------------------------------------------------------------


def log_returns(prices: pl.Series) -> pl.Series:
    """ln(p_t / p_{t-1}); the first element is null. Additive over time, used for volatility and risk."""
    p = prices.cast(pl.Float64)
    return (p / p.shift(1)).log().alias(prices.name)


def simple_returns(prices: pl.Series) -> pl.Series:
    """p_t / p_{t-1} - 1; the first element is null. What a holder actually earns over one period."""
    p = prices.cast(pl.Float64)
    return (p / p.shift(1) - 1.0).alias(prices.name)


def rolling_volatility(returns: pl.Series, window: int, periods_per_year: int = ANNUALIZATION_DAYS) -> pl.Series:
    """Annualized rolling volatility: sample std of the last `window` returns × √periods_per_year.

    Null during the warm-up and for any window containing a null/NaN return.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    r = returns.cast(pl.Float64).fill_nan(None)
    return (r.rolling_std(window, min_samples=window) * math.sqrt(periods_per_year)).alias(returns.name)


def _clean(returns: ReturnsLike) -> np.ndarray:
    """Float numpy array of the observations with NaN and null dropped (±inf kept: they are real)."""
    series = returns if isinstance(returns, pl.Series) else pl.Series(values=returns, strict=False)
    return series.cast(pl.Float64, strict=False).fill_nan(None).drop_nulls().to_numpy()


# --- risk-adjusted returns --------------------------------------------------------------------------------


def _annualized_ratio(mean_excess: float, dispersion: float, periods_per_year: int) -> float:
    """mean / dispersion × √periods, with the zero-dispersion convention: NaN if mean is 0 too, else ±inf."""
    if dispersion <= _ZERO:
        return math.nan if abs(mean_excess) <= _ZERO else math.copysign(math.inf, mean_excess)
    return float(mean_excess / dispersion * math.sqrt(periods_per_year))


def sharpe_ratio(
    returns: ReturnsLike, risk_free_rate: float = 0.02, periods_per_year: int = ANNUALIZATION_DAYS
) -> float:
    """Annualized Sharpe: mean(r − rf/periods) / std(r − rf/periods, ddof=1) × √periods.

    NaN with fewer than 2 observations. Zero std (|std| ≤ 1e-12): NaN if the mean excess is also zero,
    else +inf/−inf by its sign — a riskless positive/negative excess, not an error.
    """
    excess = _clean(returns) - risk_free_rate / periods_per_year
    if excess.size < 2:
        return math.nan
    return _annualized_ratio(float(excess.mean()), float(excess.std(ddof=1)), periods_per_year)


def sortino_ratio(
    returns: ReturnsLike, risk_free_rate: float = 0.02, periods_per_year: int = ANNUALIZATION_DAYS
) -> float:
    """Annualized Sortino: mean excess / downside deviation × √periods, target = the per-period rf.

    Downside deviation = sqrt(mean(min(r − rf/periods, 0)²)) over ALL observations (Sortino & Price), so
    periods above target count as zero shortfall. Same NaN/±inf conventions as `sharpe_ratio`.
    """
    excess = _clean(returns) - risk_free_rate / periods_per_year
    if excess.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    return _annualized_ratio(float(excess.mean()), downside, periods_per_year)


# --- drawdown ---------------------------------------------------------------------------------------------


def _days_between(start: DateLike, end: DateLike) -> int:
    if isinstance(start, int) and isinstance(end, int):
        return end - start
    delta = end - start  # type: ignore[operator]
    return delta.days if isinstance(delta, timedelta) else int(delta)


@dataclass(frozen=True)
class Drawdown:
    """The deepest peak-to-trough fall. `depth` is a negative fraction (−0.5 = halved), 0.0 if none.

    Dates are values of the `date` column, or positional indices for a Series. `duration_days` runs from the
    peak to the first close back at the peak level (None if not recovered); no drawdown → all dates None.
    """

    depth: float
    peak_date: DateLike | None = None
    trough_date: DateLike | None = None
    recovery_date: DateLike | None = None
    duration_days: int | None = None

    @property
    def drawdown_length_days(self) -> int | None:
        """Days from the peak to the trough (the falling leg only)."""
        if self.peak_date is None or self.trough_date is None:
            return None
        return _days_between(self.peak_date, self.trough_date)


def _price_path(prices: pl.DataFrame | pl.Series, date_col: str, value_col: str | None) -> tuple[np.ndarray, list]:
    """Finite values in time order and their labels (dates, or original positions for a Series)."""
    if isinstance(prices, pl.Series):
        values = prices.cast(pl.Float64, strict=False).fill_nan(None).to_numpy()
        keep = np.flatnonzero(np.isfinite(values))
        return values[keep], [int(i) for i in keep]
    col = value_col or next((c for c in ("close", "value") if c in prices.columns), None)
    if col is None:
        raise ValueError(f"expected a 'close' or 'value' column, got {prices.columns}")
    frame = prices.with_columns(pl.col(col).cast(pl.Float64, strict=False).fill_nan(None).alias("__v"))
    frame = frame.filter(pl.col("__v").is_not_null() & pl.col("__v").is_finite())
    if date_col in frame.columns:
        frame = frame.filter(pl.col(date_col).is_not_null()).sort(date_col)
        return frame["__v"].to_numpy(), frame[date_col].to_list()
    return frame["__v"].to_numpy(), list(range(frame.height))


def max_drawdown(prices: pl.DataFrame | pl.Series, date_col: str = "date", value_col: str | None = None) -> Drawdown:
    """Maximum drawdown of one price (or portfolio value) path.

    A DataFrame needs `date` and `close` (or `value`, or `value_col`) and is sorted by date; a Series is taken
    in order. Null/NaN values are skipped. The peak is the last time at the high before the trough; empty,
    one-row, constant or never-falling input gives `Drawdown(0.0)`.
    """
    values, labels = _price_path(prices, date_col, value_col)
    if values.size < 2:
        return Drawdown(0.0)
    peaks = np.maximum.accumulate(values)
    dd = np.where(peaks > 0, values / np.where(peaks > 0, peaks, 1.0) - 1.0, 0.0)
    trough = int(np.argmin(dd))
    if dd[trough] >= 0:
        return Drawdown(0.0)
    peak = int(np.flatnonzero(values[: trough + 1] == peaks[trough])[-1])
    back = np.flatnonzero(values[trough + 1 :] >= values[peak])
    recovery = trough + 1 + int(back[0]) if back.size else None
    return Drawdown(
        depth=float(dd[trough]),
        peak_date=labels[peak],
        trough_date=labels[trough],
        recovery_date=None if recovery is None else labels[recovery],
        duration_days=None if recovery is None else _days_between(labels[peak], labels[recovery]),
    )


# --- value at risk ----------------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def value_at_risk(returns: ReturnsLike, confidence: float = 0.95, method: str = "historical") -> float:
    """One-period VaR as a POSITIVE loss fraction (0.05 = lose 5%); negative if even the tail is a gain.

    - historical: −quantile(r, 1 − confidence), linear interpolation (numpy's default); needs ≥ 1 observation.
    - parametric: normal, −(μ + z·σ) with z = Φ⁻¹(1 − confidence), σ sample std; needs ≥ 2 observations.
    - cornish_fisher: modified VaR (Favre & Galeano 2002), z replaced by
      z + (z²−1)S/6 + (z³−3z)K/24 − (2z³−5z)S²/36 with S skewness and K excess kurtosis (moment, i.e. biased,
      estimators); equals parametric when S = K = 0 or σ = 0.
    Empty or all-NaN input → NaN.
    """
    if method not in VAR_METHODS:
        raise ValueError(f"unknown VaR method {method!r}; allowed: {', '.join(VAR_METHODS)}")
    _check_confidence(confidence)
    r = _clean(returns)
    if method == "historical":
        return float(-np.quantile(r, 1 - confidence)) + 0.0 if r.size else math.nan  # + 0.0: no -0.0
    if r.size < 2:
        return math.nan
    from scipy import stats  # ≈1 s to import: paid by the steps that compute VaR, not by loading the code location

    mu, sigma = float(r.mean()), float(r.std(ddof=1))
    z = float(stats.norm.ppf(1 - confidence))
    if method == "cornish_fisher" and sigma > _ZERO:
        s, k = float(stats.skew(r)), float(stats.kurtosis(r))  # bias=True, fisher=True (excess)
        z = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    return float(-(mu + z * sigma)) + 0.0


def conditional_value_at_risk(returns: ReturnsLike, confidence: float = 0.95) -> float:
    """Historical expected shortfall: −mean of the returns at or below the historical VaR threshold.

    A positive loss fraction, ≥ the historical VaR. Empty or all-NaN input → NaN.
    """
    _check_confidence(confidence)
    r = _clean(returns)
    if not r.size:
        return math.nan
    threshold = np.quantile(r, 1 - confidence)
    tail = r[r <= threshold]
    return float(-(tail.mean() if tail.size else r.min())) + 0.0


# --- correlation ------------------------------------------------------------------------------------------


def _pair_correlations(
    returns_wide: pl.DataFrame, window: int, min_periods: int | None
) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
    """Wide frame `date` + one column per symbol pair (a < b) of rolling pairwise-complete Pearson correlation.

    Rows are the dates with a full window (row index ≥ window − 1). Computed from rolling sums over the rows
    where both returns exist; null when fewer than `min_periods` such rows or either side is constant.
    """
    min_periods = window if min_periods is None else min_periods
    if window < 2 or not 2 <= min_periods <= window:
        raise ValueError(f"need window >= 2 and 2 <= min_periods <= window, got {window}, {min_periods}")
    symbols = sorted(c for c in returns_wide.columns if c != "date")
    pairs = [(a, b) for i, a in enumerate(symbols) for b in symbols[i + 1 :]]
    # NaN counts as missing; demeaning (correlation is shift invariant) keeps the raw-sum formula accurate
    frame = returns_wide.sort("date").with_columns(
        (pl.col(s).cast(pl.Float64).fill_nan(None) - pl.col(s).cast(pl.Float64).fill_nan(None).mean()) for s in symbols
    )

    def roll(e: pl.Expr) -> pl.Expr:
        return e.rolling_sum(window, min_samples=window)

    exprs = []
    for a, b in pairs:
        both = pl.col(a).is_not_null() & pl.col(b).is_not_null()
        x, y = (pl.when(both).then(pl.col(c)).otherwise(0.0) for c in (a, b))
        n, sx, sy = roll(both.cast(pl.Float64)), roll(x), roll(y)
        sxx, syy, sxy = roll(x * x), roll(y * y), roll(x * y)
        vx, vy, cxy = sxx - sx * sx / n, syy - sy * sy / n, sxy - sx * sy / n
        ok = (n >= min_periods) & (vx > _ZERO * sxx) & (vy > _ZERO * syy)  # constant side → null
        exprs.append(pl.when(ok).then((cxy / (vx * vy).sqrt()).clip(-1.0, 1.0)).alias(f"{a}{_PAIR_SEP}{b}"))
    return frame.select("date", *exprs).slice(window - 1), pairs


def rolling_correlation(
    returns_wide: pl.DataFrame, window: int = 90, min_periods: int | None = None
) -> pl.DataFrame:
    """Rolling pairwise correlation of returns, long: `date, symbol_a, symbol_b, correlation` with a < b.

    `returns_wide` is `date` + one column of returns per symbol, one row per period (e.g. from `align_daily`).
    One row per pair for each date with a full window of `window` rows; the Pearson correlation uses the rows
    where both returns exist (pairwise complete) and is null with fewer than `min_periods` (default: window)
    of them or a constant side.
    """
    wide, pairs = _pair_correlations(returns_wide, window, min_periods)
    schema = {"date": returns_wide.schema.get("date", pl.Date), "symbol_a": pl.String, "symbol_b": pl.String,
              "correlation": pl.Float64}
    if not pairs or wide.is_empty():
        return pl.DataFrame(schema=schema)
    long = wide.unpivot(index="date", variable_name="pair", value_name="correlation")
    split = pl.col("pair").str.split_exact(_PAIR_SEP, 1)
    return (
        long.with_columns(symbol_a=split.struct.field("field_0"), symbol_b=split.struct.field("field_1"))
        .select(*schema)
        .sort("date", "symbol_a", "symbol_b")
    )


def average_pairwise_correlation(
    returns_wide: pl.DataFrame, window: int = 90, min_periods: int | None = None
) -> pl.DataFrame:
    """`date, avg_correlation`: the mean of the defined pairwise rolling correlations on each full-window date.

    A market-wide "everything moves together" gauge; null on dates where no pair is defined, and an empty
    frame with fewer than two symbols.
    """
    wide, pairs = _pair_correlations(returns_wide, window, min_periods)
    if not pairs:
        return pl.DataFrame(schema={"date": returns_wide.schema.get("date", pl.Date), "avg_correlation": pl.Float64})
    return wide.select("date", pl.mean_horizontal(pl.exclude("date")).alias("avg_correlation"))


def correlation_breakdown(avg_corr: pl.DataFrame, band_window: int = 90, n_std: float = 2.0) -> pl.DataFrame:
    """Flag correlation spikes: adds `band_upper` = rolling mean + n_std × rolling std of the PRIOR
    `band_window` values of `avg_correlation` (today excluded: no look-ahead), and `breakdown` = today > band.

    `band_upper` is null until `band_window` prior values exist (or one of them is null); `breakdown` is then False.
    """
    if band_window < 2:
        raise ValueError(f"band_window must be >= 2, got {band_window}")
    prior = pl.col("avg_correlation").cast(pl.Float64).fill_nan(None).shift(1)
    band = prior.rolling_mean(band_window, min_samples=band_window) + n_std * prior.rolling_std(
        band_window, min_samples=band_window
    )
    return (
        avg_corr.sort("date")
        .with_columns(band_upper=band)
        .with_columns(breakdown=(pl.col("avg_correlation") > pl.col("band_upper")).fill_null(False))
    )


# --- portfolio --------------------------------------------------------------------------------------------


def diversification_ratio(
    weights: dict[str, float] | Sequence[float] | np.ndarray,
    cov: np.ndarray | pd.DataFrame,
    symbols: Sequence[str] | None = None,
) -> float:
    """(wᵀσ) / √(wᵀΣw): weighted average volatility over portfolio volatility; 1 = no diversification.

    Dict weights are aligned by label to a pandas `cov` (absent symbols weigh 0), or to `symbols` (default:
    the dict's order) for a numpy `cov`; sequences are positional. Empty input or zero portfolio
    variance → NaN; mismatched shapes or unknown labels → ValueError.
    """
    labels = list(cov.columns) if type(cov).__module__.startswith("pandas") else None  # pandas: keep its labels
    sigma_mat = np.asarray(cov, dtype=float)
    if isinstance(weights, dict):
        order = labels if labels is not None else list(symbols if symbols is not None else weights)
        unknown = set(weights) - set(order)
        if unknown:
            raise ValueError(f"weights for symbols not in the covariance: {sorted(unknown)}")
        w = np.array([weights.get(s, 0.0) for s in order], dtype=float)
    else:
        w = np.asarray(weights, dtype=float).ravel()
    if w.size == 0 or sigma_mat.size == 0:
        return math.nan
    if sigma_mat.shape != (w.size, w.size):
        raise ValueError(f"covariance shape {sigma_mat.shape} does not match {w.size} weights")
    variance = float(w @ sigma_mat @ w)
    if not variance > 0:
        return math.nan
    return float(w @ np.sqrt(np.diag(sigma_mat)) / math.sqrt(variance))


# --- daily risk table -------------------------------------------------------------------------------------

RISK_COLUMNS = ("vol_30", "vol_90", "sharpe", "sortino", "max_drawdown", "var_95", "var_99", "cvar_95")


def _symbol_risk(closes: pl.DataFrame, as_of_window: int, risk_free_rate: float) -> dict[str, Any]:
    """Risk row of one symbol; `closes` is its (date, close) history sorted by date, closes valid and > 0."""
    last = closes["date"][-1]
    window = closes.filter(pl.col("date") >= last - timedelta(days=as_of_window))  # base close + window days
    r = log_returns(window["close"]).slice(1)

    def last_vol(n: int) -> float | None:
        return rolling_volatility(r, n)[-1] if r.len() >= n else None

    return {
        "date": last,
        "vol_30": last_vol(30),
        "vol_90": last_vol(90),
        "sharpe": sharpe_ratio(r, risk_free_rate),
        "sortino": sortino_ratio(r, risk_free_rate),
        "max_drawdown": max_drawdown(window).depth,
        "var_95": value_at_risk(r, 0.95),
        "var_99": value_at_risk(r, 0.99),
        "cvar_95": conditional_value_at_risk(r, 0.95),
    }


def risk_metrics(ohlcv: pl.DataFrame, as_of_window: int = 365, risk_free_rate: float = 0.02) -> pl.DataFrame:
    """One row per symbol as of its last date: `symbol, date, vol_30, vol_90, sharpe, sortino, max_drawdown,
    var_95, var_99, cvar_95`.

    Computed on the daily log returns of the last `as_of_window` calendar days (drawdown on the closes of the
    same span, including the base close). Rows with a missing or non-positive close are ignored. VaR/CVaR are
    historical, on log returns, as positive losses; vols are annualized (×√365) and null with too little
    history; other undefined values (NaN) are stored as null, ±inf Sharpe/Sortino are kept.
    """
    schema = {"symbol": pl.String, "date": ohlcv.schema.get("date", pl.Date), **dict.fromkeys(RISK_COLUMNS, pl.Float64)}
    valid = ohlcv.select("symbol", "date", pl.col("close").cast(pl.Float64).fill_nan(None)).filter(
        pl.col("close") > 0, pl.col("date").is_not_null()
    )
    rows = [
        {"symbol": symbol, **_symbol_risk(group.sort("date"), as_of_window, risk_free_rate)}
        for (symbol,), group in valid.partition_by("symbol", as_dict=True, include_key=False).items()
    ]
    out = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return out.with_columns(pl.col(pl.Float64).fill_nan(None)).sort("symbol")


def pairwise_correlation(returns_wide: pl.DataFrame, min_periods: int) -> pl.DataFrame:
    """Pearson correlation of every pair of symbols over all rows of `returns_wide` (pairwise complete),
    long: `symbol_a, symbol_b, correlation` with a < b; null with fewer than `min_periods` shared rows.

    The one-window counterpart of `rolling_correlation`, computed by pandas' vectorized `corr`.
    """
    symbols = sorted(c for c in returns_wide.columns if c != "date")
    schema = {"symbol_a": pl.String, "symbol_b": pl.String, "correlation": pl.Float64}
    if len(symbols) < 2:
        return pl.DataFrame(schema=schema)
    corr = returns_wide.select(symbols).to_pandas().corr(min_periods=min_periods).to_numpy()
    ia, ib = np.triu_indices(len(symbols), k=1)
    values = corr[ia, ib]
    return pl.DataFrame(
        {
            "symbol_a": [symbols[i] for i in ia],
            "symbol_b": [symbols[j] for j in ib],
            "correlation": [None if np.isnan(v) else float(v) for v in values],
        },
        schema=schema,
    )
