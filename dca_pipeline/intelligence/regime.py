"""Market regime detection: market-wide features and a Gaussian HMM labelled bull/bear/sideways/crisis.

Everything is point in time: features use only trailing windows and the HMM is fitted on rows up to `as_of`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numba as nb
import numpy as np
import polars as pl

from dca_pipeline.intelligence.hmm import GaussianHMMFit, fit_gaussian_hmm

FEATURES = ("market_return", "market_volatility", "avg_correlation")
LABELS = ("bull", "bear", "sideways", "crisis")
MIN_TRAINING_ROWS = 60


def _jit(**options):  # noqa: ANN003, ANN202
    """numba's njit with `options`, cached on disk when there is a writable place for it (else compiled per process)."""
    def wrap(fn):  # noqa: ANN001, ANN202
        try:
            return nb.njit(cache=True, nogil=True, error_model="numpy", **options)(fn)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return nb.njit(cache=False, nogil=True, error_model="numpy", **options)(fn)
    return wrap


@_jit(fastmath={"reassoc"})
def _dot(x: np.ndarray, y: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ x·y of two finite vectors (compiled with reassociation: a fixed vectorized order, the same on every call)."""
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k] * y[k]
    return s


@_jit()
def _rolling_kernel(returns: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per row: the equal-weight mean of the finite returns (coins in order), and for rows t ≥ window − 1, from rows
    t − window + 1 … t only, the sample std (ddof 1) of that mean and the mean pairwise-complete Pearson correlation
    of the coins (`returns` is coins × rows, NaN = no return).

    Every window is computed from scratch (means, then centred sums), so a row's value depends only on its window's
    numbers — the same on a 3-year window as on the whole history. A pair counts when both coins have at least
    max(window // 2, 2) joint returns and neither is flat there; the std needs all `window` values. Coins with every
    return of the window are centred once per window; only pairs with gaps are centred on their joint rows.
    """
    n_coins, n_rows = returns.shape
    market = np.full(n_rows, np.nan)
    corr = np.full(n_rows, np.nan)
    std = np.full(n_rows, np.nan)
    min_overlap = max(window // 2, 2)
    finite = np.isfinite(returns)
    for t in range(n_rows):
        s, c = 0.0, 0
        for i in range(n_coins):
            if finite[i, t]:
                s += returns[i, t]
                c += 1
        if c > 0:
            market[t] = s / c
    active = np.empty(n_coins, dtype=np.int64)
    full = np.empty(n_coins, dtype=np.bool_)
    centred = np.empty((n_coins, window))
    ssq = np.empty(n_coins)
    for t in range(window - 1, n_rows):
        lo = t - window + 1
        s = 0.0
        ok = True
        for k in range(lo, t + 1):
            if not np.isfinite(market[k]):
                ok = False
                break
            s += market[k]
        if ok:
            mean = s / window
            ss = 0.0
            for k in range(lo, t + 1):
                d = market[k] - mean
                ss += d * d
            std[t] = np.sqrt(ss / (window - 1))
        n_active = 0
        for i in range(n_coins):
            c = 0
            for k in range(lo, t + 1):
                c += finite[i, k]
            if c >= min_overlap:
                active[n_active] = i
                full[n_active] = c == window
                if c == window:
                    m = 0.0
                    for k in range(lo, t + 1):
                        m += returns[i, k]
                    m /= window
                    q = 0.0
                    for k in range(window):
                        d = returns[i, lo + k] - m
                        centred[n_active, k] = d
                        q += d * d
                    ssq[n_active] = q
                n_active += 1
        total, count = 0.0, 0
        for a in range(n_active):
            i = active[a]
            for b in range(a + 1, n_active):
                if full[a] and full[b]:
                    sxy, sxx, syy = _dot(centred[a], centred[b]), ssq[a], ssq[b]
                else:
                    j = active[b]
                    m, sx, sy = 0, 0.0, 0.0
                    for k in range(lo, t + 1):
                        if finite[i, k] and finite[j, k]:
                            m += 1
                            sx += returns[i, k]
                            sy += returns[j, k]
                    if m < min_overlap:
                        continue
                    mx, my = sx / m, sy / m
                    sxy, sxx, syy = 0.0, 0.0, 0.0
                    for k in range(lo, t + 1):
                        if finite[i, k] and finite[j, k]:
                            dx, dy = returns[i, k] - mx, returns[j, k] - my
                            sxy += dx * dy
                            sxx += dx * dx
                            syy += dy * dy
                den = np.sqrt(sxx * syy)
                if den > 0.0:
                    r = sxy / den
                    if np.isfinite(r):
                        total += r
                        count += 1
        if count > 0:
            corr[t] = total / count
    return market, corr, std


def market_features(closes_wide: pl.DataFrame, window: int = 30) -> pl.DataFrame:
    """Daily market features from a wide `date` + one-close-per-symbol frame (nulls where a coin is unlisted).

    `market_return` is the equal-weight mean of the available log returns, `market_volatility` its trailing
    `window`-day std annualized with sqrt(365), and `avg_correlation` the trailing mean pairwise correlation.
    Every value uses only its own and earlier rows, and only the `window` rows ending at it: features of a longer
    history, cut to a shorter one's rows, equal the shorter one's (`window_features`). Symbols are taken in name
    order. Warm-up rows with any null feature are dropped.
    """
    frame = closes_wide.sort("date")
    symbols = sorted(c for c in frame.columns if c != "date")
    closes = [pl.col(s).cast(pl.Float64) for s in symbols]
    rets = frame.select("date", *[(c / c.shift(1)).log().fill_nan(None) for c in closes])
    matrix = rets.select(symbols).to_numpy().astype(float).T if symbols else np.empty((0, len(rets)))
    matrix[~np.isfinite(matrix)] = np.nan
    market, corr, std = _rolling_kernel(np.ascontiguousarray(matrix), window)
    out = rets.select("date").with_columns(
        pl.Series("market_return", market).fill_nan(None),
        pl.Series("market_volatility", std * math.sqrt(365)).fill_nan(None),
        pl.Series("avg_correlation", corr).fill_nan(None),
    )
    return out.drop_nulls(list(FEATURES))


def window_features(features: pl.DataFrame, dates: pl.Series, start: date, end: date, window: int = 30) -> pl.DataFrame:
    """The rows `market_features(closes of [start, end] only, window)` yields, cut from `features` computed on a
    longer history whose wide close frame had the dates `dates`.

    On [start, end] alone the first row has no return, so every window containing it is warm-up: the first row kept
    is the `window + 1`-th date on or after `start`; from there each value reads only rows inside [start, end]."""
    inside = dates.filter((dates >= start) & (dates <= end))
    if len(inside) <= window:
        return features.clear()
    return features.filter(pl.col("date").is_between(inside[window], end))


@dataclass(frozen=True)
class RegimeResult:
    """A fitted regime model as of one date: the current label, its posterior and the per-day history."""

    as_of: date
    label: str
    probabilities: dict[str, float]
    state_means: pl.DataFrame
    history: pl.DataFrame
    log_likelihood: float
    covariance_type: str


def label_states(means: np.ndarray) -> list[str]:
    """Label HMM states from their feature means (columns as in FEATURES), never from their index.

    4 states: crisis = highest mean volatility (ties broken by correlation); of the rest bull = highest
    mean return, bear = lowest, sideways = the remaining one. 3 states: the same without sideways.
    2 states: bull = higher mean return, bear = lower. Mean-based naming keeps labels stable across refits.
    """
    n = len(means)
    if n not in (2, 3, 4):
        raise ValueError(f"regime labelling supports 2, 3 or 4 states, got {n}")
    labels = [""] * n
    rest = list(range(n))
    if n >= 3:
        crisis = max(rest, key=lambda s: (means[s, 1], means[s, 2]))
        labels[crisis] = "crisis"
        rest.remove(crisis)
    by_return = sorted(rest, key=lambda s: means[s, 0])
    labels[by_return[-1]], labels[by_return[0]] = "bull", "bear"
    if n == 4:
        labels[by_return[1]] = "sideways"
    return labels


def _fit_hmm(x: np.ndarray, n_states: int, seed: int, n_iter: int, n_init: int) -> tuple[GaussianHMMFit, float, str]:
    """Best-of-`n_init` Gaussian HMM fit (seeds seed, seed+1, ...): full covariances, else diagonal ones.

    Restarts keep EM's local optima from depending on the seed. Each restart is hmmlearn's
    `GaussianHMM(n_states, cov, n_iter=n_iter, random_state=seed + k).fit(x)` run by the compiled `hmm` module
    (same initialisation, iterations and stopping rule; tested against hmmlearn), 12–20× faster at this size
    (benchmarks/hmm.py).
    """
    for cov in ("full", "diag"):
        best = None
        for k in range(n_init):
            try:
                model = fit_gaussian_hmm(x, n_states, cov, seed + k, n_iter=n_iter)
            except (ValueError, np.linalg.LinAlgError):
                continue
            score = model.log_likelihood
            if np.isfinite(score) and np.isfinite(model.means_).all() and (best is None or score > best[1]):
                best = (model, score, cov)
        if best is not None:
            return best
    raise RuntimeError(f"GaussianHMM failed to fit {len(x)} rows with {n_states} states (full and diag)")


def fit_regimes(
    features: pl.DataFrame,
    as_of: date,
    n_states: int = 4,
    seed: int = 0,
    *,
    n_iter: int = 200,
    n_init: int = 5,
) -> RegimeResult:
    """Fit a Gaussian HMM on feature rows dated on or before `as_of` (no look-ahead) and label its states.

    Features are standardized with the training window's own mean/std; the best of `n_init` EM restarts
    is kept and its states are named by `label_states`.
    Labels without a state (2 or 3 states) get probability 0. Raises ValueError with < 60 training rows.
    """
    if n_states not in (2, 3, 4):
        raise ValueError(f"regime labelling supports 2, 3 or 4 states, got {n_states}")
    train = features.filter(pl.col("date") <= as_of).sort("date").drop_nulls(list(FEATURES))
    if len(train) < MIN_TRAINING_ROWS:
        span = f"{train['date'].min()}..{train['date'].max()}" if len(train) else "no dates"
        raise ValueError(
            f"need at least {MIN_TRAINING_ROWS} feature rows on or before {as_of} to fit regimes, "
            f"got {len(train)} ({span})"
        )
    raw = train.select(FEATURES).to_numpy().astype(float)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x = (raw - mean) / std

    model, log_likelihood, cov = _fit_hmm(x, n_states, seed, n_iter, n_init)
    state_labels = label_states(model.means_)
    posterior = model.predict_proba(x)
    probs = {label: np.zeros(len(x)) for label in LABELS}
    for state, label in enumerate(state_labels):
        probs[label] = posterior[:, state]
    regimes = [state_labels[s] for s in posterior.argmax(axis=1)]

    history = pl.DataFrame(
        {"date": train["date"], "regime": regimes, **{f"p_{label}": probs[label] for label in LABELS}}
    )
    unscaled = model.means_ * std + mean
    order = sorted(range(n_states), key=lambda s: LABELS.index(state_labels[s]))
    state_means = pl.DataFrame(
        {
            "label": [state_labels[s] for s in order],
            **{f: [float(unscaled[s, k]) for s in order] for k, f in enumerate(FEATURES)},
        }
    )
    return RegimeResult(
        as_of=as_of,
        label=regimes[-1],
        probabilities={label: float(probs[label][-1]) for label in LABELS},
        state_means=state_means,
        history=history,
        log_likelihood=log_likelihood,
        covariance_type=cov,
    )
