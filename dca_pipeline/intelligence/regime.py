"""Market regime detection: market-wide features and a Gaussian HMM labelled bull/bear/sideways/crisis.

Everything is point in time: features use only trailing windows and the HMM is fitted on rows up to `as_of`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import numpy as np
import polars as pl

FEATURES = ("market_return", "market_volatility", "avg_correlation")
LABELS = ("bull", "bear", "sideways", "crisis")
MIN_TRAINING_ROWS = 60


def _rolling_avg_correlation(returns: np.ndarray, window: int) -> np.ndarray:
    """Trailing `window`-row mean of pairwise-complete Pearson correlations (NaN where no pair qualifies).

    A pair counts in a window when both coins have at least window // 2 joint returns there and neither is flat.
    """
    n_rows, n_coins = returns.shape
    out = np.full(n_rows, np.nan)
    if n_rows < window or n_coins < 2:
        return out
    min_overlap = max(window // 2, 2)
    total = np.zeros(n_rows - window + 1)
    count = np.zeros(n_rows - window + 1)
    windows = np.lib.stride_tricks.sliding_window_view
    for i, j in combinations(range(n_coins), 2):
        both = windows(np.isfinite(returns[:, i]) & np.isfinite(returns[:, j]), window)
        x, y = windows(returns[:, i], window), windows(returns[:, j], window)
        m = both.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = np.where(both, x - np.where(both, x, 0.0).sum(axis=1, keepdims=True) / m[:, None], 0.0)
            dy = np.where(both, y - np.where(both, y, 0.0).sum(axis=1, keepdims=True) / m[:, None], 0.0)
            corr = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
        ok = (m >= min_overlap) & np.isfinite(corr)
        total += np.where(ok, corr, 0.0)
        count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window - 1 :] = np.where(count > 0, total / count, np.nan)
    return out


def market_features(closes_wide: pl.DataFrame, window: int = 30) -> pl.DataFrame:
    """Daily market features from a wide `date` + one-close-per-symbol frame (nulls where a coin is unlisted).

    `market_return` is the equal-weight mean of the available log returns, `market_volatility` its trailing
    `window`-day std annualized with sqrt(365), and `avg_correlation` the trailing mean pairwise correlation.
    Every value uses only its own and earlier rows; warm-up rows with any null feature are dropped.
    """
    frame = closes_wide.sort("date")
    symbols = [c for c in frame.columns if c != "date"]
    closes = [pl.col(s).cast(pl.Float64) for s in symbols]
    rets = frame.select("date", *[(c / c.shift(1)).log().fill_nan(None) for c in closes])
    matrix = rets.select(symbols).to_numpy().astype(float) if symbols else np.empty((len(rets), 0))
    matrix[~np.isfinite(matrix)] = np.nan
    out = rets.select(
        "date",
        (pl.mean_horizontal(symbols) if symbols else pl.lit(None, pl.Float64)).alias("market_return"),
    ).with_columns(
        (pl.col("market_return").rolling_std(window, min_samples=window) * math.sqrt(365)).alias("market_volatility"),
        pl.Series("avg_correlation", _rolling_avg_correlation(matrix, window)).fill_nan(None),
    )
    return out.drop_nulls(list(FEATURES))


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


def _fit_hmm(x: np.ndarray, n_states: int, seed: int, n_iter: int, n_init: int):  # noqa: ANN202 - hmmlearn model
    """Best-of-`n_init` GaussianHMM fit (seeds seed, seed+1, ...): full covariances, else diagonal ones.

    Restarts keep EM's local optima from depending on the seed. BLAS is held to one thread: on 3x3
    matrices threading only adds overhead (several times slower).
    """
    from hmmlearn.hmm import GaussianHMM
    from threadpoolctl import threadpool_limits

    for cov in ("full", "diag"):
        best = None
        for k in range(n_init):
            model = GaussianHMM(n_components=n_states, covariance_type=cov, n_iter=n_iter, random_state=seed + k)
            try:
                with threadpool_limits(limits=1):
                    model.fit(x)
                score = float(model.score(x))
            except (ValueError, np.linalg.LinAlgError):
                continue
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
