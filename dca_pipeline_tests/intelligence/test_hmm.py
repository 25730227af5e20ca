"""Our compiled Gaussian HMM (intelligence/hmm.py) against hmmlearn, the library it reproduces, on bundled data.

The regime features of the bundled USD closes are cut into several monthly ~1100-day windows (as the backtest fits
them); on each, hmmlearn's `GaussianHMM` is the reference for the initial parameters, the EM result (iterations,
parameters, log-likelihood) and the posteriors, and the old hmmlearn-based `fit_regimes` for the labels.
"""
from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hmmlearn.hmm import GaussianHMM
from threadpoolctl import threadpool_limits

from dca_pipeline.ingestion import bundle
from dca_pipeline.intelligence import hmm
from dca_pipeline.intelligence.regime import FEATURES, fit_regimes, label_states, market_features

MONTHS = (date(2019, 7, 1), date(2021, 6, 1), date(2022, 11, 1), date(2025, 3, 1))
WINDOW_DAYS = 1100
SEEDS = range(5)


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    closes = bundle.ohlcv_usd().select("base", "date", "close")
    return market_features(closes.pivot(on="base", index="date", values="close").sort("date"))


def _window(features: pl.DataFrame, month: date) -> pl.DataFrame:
    return features.filter(pl.col("date").is_between(month - timedelta(days=WINDOW_DAYS), month - timedelta(days=1)))


def _standardized(frame: pl.DataFrame) -> np.ndarray:
    raw = frame.select(FEATURES).to_numpy().astype(float)
    std = raw.std(axis=0)
    return (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)


@pytest.fixture(scope="module")
def windows(features: pl.DataFrame) -> dict[date, np.ndarray]:
    out = {m: _standardized(_window(features, m)) for m in MONTHS}
    assert all(len(x) > 900 for x in out.values())
    return out


def _reference(x: np.ndarray, cov: str, seed: int, **kw) -> GaussianHMM:  # noqa: ANN003
    model = GaussianHMM(n_components=4, covariance_type=cov, n_iter=200, random_state=seed, **kw)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x)
    return model


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_initial_parameters_are_hmmlearns(windows: dict[date, np.ndarray], cov: str) -> None:
    for x in windows.values():
        for seed in SEEDS:
            ref = GaussianHMM(n_components=4, covariance_type=cov, random_state=seed)
            with threadpool_limits(limits=1):
                ref._init(x, np.array([len(x)]))  # hmmlearn's own initialisation (Dirichlet draws + sklearn KMeans)
            startprob, transmat, means, covars = hmm.initial_parameters(x, 4, cov, seed)
            np.testing.assert_allclose(startprob, ref.startprob_, rtol=0, atol=1e-15)
            np.testing.assert_allclose(transmat, ref.transmat_, rtol=0, atol=1e-15)
            np.testing.assert_allclose(means, ref.means_, rtol=0, atol=1e-12)
            np.testing.assert_allclose(covars, ref._covars_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_fit_matches_hmmlearn(windows: dict[date, np.ndarray], cov: str) -> None:
    for x in windows.values():
        for seed in SEEDS:
            ref = _reference(x, cov, seed)
            ours = hmm.fit_gaussian_hmm(x, 4, cov, seed, n_iter=200)
            assert ours.n_iter == ref.monitor_.iter  # the same stopping iteration (tol 1e-2 on the log-likelihood gain)
            np.testing.assert_allclose(ours.means_, ref.means_, rtol=0, atol=1e-8)
            np.testing.assert_allclose(ours.covars_, ref._covars_, rtol=0, atol=1e-8)
            np.testing.assert_allclose(ours.transmat_, ref.transmat_, rtol=0, atol=1e-8)
            assert ours.log_likelihood == pytest.approx(ref.score(x), rel=0, abs=1e-6)
            log_prob, post = ours.score_samples(x)
            ref_log_prob, ref_post = ref.score_samples(x)
            assert log_prob == pytest.approx(ref_log_prob, rel=0, abs=1e-6)
            np.testing.assert_allclose(post, ref_post, rtol=0, atol=1e-6)
            assert (post.argmax(axis=1) == ref_post.argmax(axis=1)).all()


def test_stops_at_n_iter_like_hmmlearn(windows: dict[date, np.ndarray]) -> None:
    x = windows[MONTHS[0]]
    ref = _reference(x, "full", 0, tol=-np.inf)  # never converged: runs all n_iter iterations
    ours = hmm.fit_gaussian_hmm(x, 4, "full", 0, n_iter=200, tol=-np.inf)
    assert ref.monitor_.iter == ours.n_iter == 200
    assert ours.log_likelihood == pytest.approx(ref.score(x), rel=0, abs=1e-6)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=0, atol=1e-7)


def _hmmlearn_fit_regimes(frame: pl.DataFrame, n_init: int = 5) -> tuple[list[str], np.ndarray, float, str]:
    """The former `fit_regimes` core on hmmlearn: best score of seeds 0..n_init-1, full then diag; labels by means."""
    x = _standardized(frame)
    for cov in ("full", "diag"):
        best = None
        for seed in range(n_init):
            try:
                model = _reference(x, cov, seed)
                score = float(model.score(x))
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(score) and np.isfinite(model.means_).all() and (best is None or score > best[1]):
                best = (model, score)
        if best is not None:
            model, score = best
            labels = label_states(model.means_)
            post = model.predict_proba(x)
            probs = np.zeros((len(x), 4))  # columns p_bull, p_bear, p_sideways, p_crisis
            for state, label in enumerate(labels):
                probs[:, ("bull", "bear", "sideways", "crisis").index(label)] = post[:, state]
            return [labels[s] for s in post.argmax(axis=1)], probs, score, cov
    raise AssertionError("hmmlearn failed")


def test_fit_regimes_equals_the_hmmlearn_version(features: pl.DataFrame) -> None:
    for month in MONTHS:
        frame = _window(features, month)
        regimes, probs, score, cov = _hmmlearn_fit_regimes(frame)
        result = fit_regimes(frame, month - timedelta(days=1))
        assert result.history["regime"].to_list() == regimes
        assert result.log_likelihood == pytest.approx(score, rel=0, abs=1e-6)
        assert result.covariance_type == cov
        got = result.history.select("p_bull", "p_bear", "p_sideways", "p_crisis").to_numpy()
        np.testing.assert_allclose(got, probs, rtol=0, atol=1e-6)
        assert result.label == regimes[-1]


def test_scaled_estep_falls_back_to_log_space_like_hmmlearn() -> None:
    """A first row ~60 σ from the only possible start state: every emission density of the first row but one
    underflows exp() after the per-row shift and the forward sum is 0, so the log-space E-step answers; hmmlearn
    (log space throughout) is the reference for the score and the posteriors."""
    rng = np.random.default_rng(3)
    means = np.array([[0.0, 0.0], [60.0, 60.0], [-5.0, 5.0], [5.0, -5.0]])
    states = rng.integers(0, 4, 300)
    x = means[states] + rng.standard_normal((300, 2))
    x[0] = means[1] + 0.1
    startprob = np.array([1.0, 0.0, 0.0, 0.0])
    transmat = np.full((4, 4), 0.25)
    covars = np.array([np.eye(2) * v for v in (1.0, 1.0, 2.0, 0.5)])
    ref = GaussianHMM(n_components=4, covariance_type="full", init_params="")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = startprob, transmat, means, covars
    ours = hmm.GaussianHMMFit(startprob, transmat, means, covars, "full", np.nan, 0)
    lfp = np.empty((300, 4))
    assert hmm._log_density(x, means, covars, True, lfp)
    scaled_ok, _ = hmm._estep_scaled(startprob, transmat, lfp, False, np.empty((300, 4)), np.empty((300, 4)),
                                     np.empty((300, 4)), np.zeros((4, 4)))
    assert not scaled_ok  # the fallback is exercised
    log_prob, post = ours.score_samples(x)
    ref_log_prob, ref_post = ref.score_samples(x)
    assert np.isfinite(ref_log_prob)
    assert log_prob == pytest.approx(ref_log_prob, rel=1e-12)
    np.testing.assert_allclose(post, ref_post, rtol=0, atol=1e-9)


def test_covariance_checks_are_hmmlearns() -> None:
    """hmmlearn retries a failed Cholesky with 1e-7 on the diagonal and raises ValueError when that fails too
    (the restart is then skipped): a singular covariance is scored with the jitter, an indefinite one is refused."""
    from hmmlearn.stats import log_multivariate_normal_density

    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 2))
    means = np.array([[0.0, 0.0], [1.0, -1.0]])
    singular = np.array([[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.3], [0.3, 1.0]]])
    lfp = np.empty((50, 2))
    assert hmm._log_density(x, means, singular, True, lfp)
    np.testing.assert_allclose(lfp, log_multivariate_normal_density(x, means, singular, "full"), rtol=1e-9)
    indefinite = np.array([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.3], [0.3, 1.0]]])
    with pytest.raises(ValueError):
        log_multivariate_normal_density(x, means, indefinite, "full")
    assert not hmm._log_density(x, means, indefinite, True, lfp)
    ours = hmm.GaussianHMMFit(np.array([0.5, 0.5]), np.full((2, 2), 0.5), means, indefinite, "full", np.nan, 0)
    with pytest.raises(ValueError):
        ours.predict_proba(x)
