"""Benchmark: the regime HMM fit (intelligence/hmm.py, compiled) against hmmlearn on the backtest's monthly windows.

Usage:
  python benchmarks/hmm.py              # every month 2017-01 → 2025-10 of the bundled history (as --bundled --regime)
  python benchmarks/hmm.py --step 6     # every 6th month
  python benchmarks/hmm.py --threads 2  # also: the 5 restarts on 2 threads (the kernels release the GIL)
Per month it fits the regime HMM both ways — `regime._fit_hmm` (ours) and the former hmmlearn implementation
(`GaussianHMM(...).fit` per restart, best score, full then diag) — on the same standardized features
(`regime.window_features` of the backtest's history), and prints the time per month of each, their ratio, and how
far the results are apart: months whose labels differ anywhere in the history, the largest posterior and
log-likelihood gaps. The first call of ours compiles or loads the numba cache; it is warmed up before timing.
"""
import argparse
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np


def _hmmlearn_fit(x: np.ndarray, n_states: int = 4, seed: int = 0, n_iter: int = 200, n_init: int = 5):  # noqa: ANN202
    """The former `regime._fit_hmm`: hmmlearn GaussianHMM restarts, best score, full covariances else diagonal."""
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
    raise RuntimeError("hmmlearn failed")


def _threaded_fit(pool: ThreadPoolExecutor, x: np.ndarray, n_states: int = 4, seed: int = 0, n_init: int = 5):  # noqa: ANN202
    """`regime._fit_hmm` with the full-covariance restarts spread over `pool` (same choice of the best)."""
    from dca_pipeline.intelligence.hmm import fit_gaussian_hmm

    def one(k: int):  # noqa: ANN202
        try:
            return fit_gaussian_hmm(x, n_states, "full", seed + k)
        except ValueError:
            return None

    best = None
    for model in pool.map(one, range(n_init)):
        if model is not None and np.isfinite(model.log_likelihood) and (best is None or model.log_likelihood > best[1]):
            best = (model, model.log_likelihood, "full")
    return best


def _windows(step: int) -> list[tuple[date, np.ndarray]]:
    from dca_pipeline.backtest.engine import MarketHistory
    from dca_pipeline.config import load_settings
    from dca_pipeline.ingestion.sources import ReplaySource
    from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
    from dca_pipeline.intelligence.regime import FEATURES, MIN_TRAINING_ROWS, window_features

    settings = load_settings()
    start, end = date(2017, 1, 1), date(2025, 10, 31)
    history = MarketHistory.for_run(ReplaySource(), settings, start, end, True)
    excluded = tuple(sorted(f"{b}/BRL" for b in settings.excluded_bases))
    feats, dates = history.regime_features(excluded)
    months, m = [], start
    while m <= end:
        months.append(m)
        m = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
    out = []
    for month in months[::step]:
        frame = window_features(feats, dates, month - timedelta(days=REGIME_HISTORY_DAYS), month - timedelta(days=1))
        if len(frame) < MIN_TRAINING_ROWS:
            continue
        raw = frame.select(FEATURES).to_numpy().astype(float)
        std = raw.std(axis=0)
        out.append((month, (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)))
    return out


def main() -> None:
    from dca_pipeline.intelligence.regime import _fit_hmm, label_states

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=int, default=1, help="every STEP-th month")
    parser.add_argument("--threads", type=int, default=0, help="also time the restarts on this many threads")
    args = parser.parse_args()
    windows = _windows(args.step)
    _fit_hmm(windows[0][1], 4, 0, 200, 5)  # compile / load the numba cache
    t_ours = t_ref = t_threads = 0.0
    label_months, worst_p, worst_ll = 0, 0.0, 0.0
    pool = ThreadPoolExecutor(args.threads) if args.threads else None
    for _, x in windows:
        t0 = time.perf_counter()
        ours, ll, _ = _fit_hmm(x, 4, 0, 200, 5)
        p = ours.predict_proba(x)
        t_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref, ref_ll, _ = _hmmlearn_fit(x)
            ref_p = ref.predict_proba(x)
        t_ref += time.perf_counter() - t0
        if pool is not None:
            t0 = time.perf_counter()
            threaded = _threaded_fit(pool, x)
            t_threads += time.perf_counter() - t0
            assert threaded is None or threaded[1] == ll
        ours_labels, ref_labels = label_states(ours.means_), label_states(ref.means_)
        label_months += [ours_labels[s] for s in p.argmax(axis=1)] != [ref_labels[s] for s in ref_p.argmax(axis=1)]
        worst_p = max(worst_p, float(np.abs(p - ref_p).max()))
        worst_ll = max(worst_ll, abs(ll - ref_ll))
    n = len(windows)
    print(f"{n} monthly regime fits (4 states, 5 restarts, ~{int(np.mean([len(x) for _, x in windows]))} rows × 3 features)")
    print(f"  ours {1000 * t_ours / n:.0f} ms/month   hmmlearn {1000 * t_ref / n:.0f} ms/month   "
          f"ratio {t_ref / t_ours:.1f}x faster   (totals {t_ours:.1f} s vs {t_ref:.1f} s)")
    if pool is not None:
        print(f"  ours with the restarts on {args.threads} threads: {1000 * t_threads / n:.0f} ms/month "
              f"({t_ours / t_threads:.2f}x the sequential fit)")
    print(f"  months whose label history differs: {label_months}/{n}; largest posterior gap {worst_p:.1e}, "
          f"log-likelihood gap {worst_ll:.1e}")


if __name__ == "__main__":
    main()
