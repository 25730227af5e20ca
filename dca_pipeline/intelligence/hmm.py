"""Gaussian HMM by Baum-Welch EM: the fit hmmlearn's `GaussianHMM` makes, numba-compiled (full and diag covariances).

The regime model fits 5 restarts × one HMM per month on ~1100 rows × 3 features. At that size hmmlearn spends its
time in per-iteration Python/NumPy/SciPy calls (tiny Cholesky solves, logsumexp, einsum) and sklearn's KMeans
initialisation in per-call overhead; the arithmetic itself is microseconds. This module runs the same algorithm as
plain compiled loops:

- initialisation exactly as `GaussianHMM._init` with `random_state=seed`: startprob and transmat rows drawn from
  Dirichlet(1/n) by `RandomState(seed)`; means = the centres of sklearn's `KMeans(n_clusters=n, n_init=10,
  random_state=seed)` (k-means++ seeding with 2 + ⌊log n⌋ local trials, Lloyd iterations, tolerance 1e-4 × mean
  feature variance, max 300 iterations, best inertia over the 10 runs unless the clustering is the same); covariances
  = the sample covariance + min_covar (1e-3) on the diagonal. The random numbers are drawn in Python with NumPy's
  `RandomState` (they do not depend on the data), the rest is compiled. A k-means run that empties a cluster
  (sklearn then relocates centres) is handed to sklearn itself.
- EM as `BaseHMM.fit` with implementation="log": log-space forward/backward, ξ summed with log-add-exp, the M-step
  with hmmlearn's default priors (startprob/transmat Dirichlet 1.0 — no smoothing; means_weight 0; covars_prior 1e-2
  added to every covariance entry, covars_weight 1), stopping after `n_iter` iterations or when the log-likelihood
  gains less than `tol` (1e-2); Cholesky with hmmlearn's 1e-7 jitter retry. A fit whose covariance is not positive
  definite or whose parameters turn non-finite fails (hmmlearn raises ValueError there), as does one whose startprob
  or transmat rows do not sum to 1 (hmmlearn's `score` check).

Tested against hmmlearn on the bundled market features (dca_pipeline_tests/intelligence/test_hmm.py); the speed
ratio is printed by benchmarks/hmm.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

MIN_COVAR = 1e-3  # GaussianHMM(min_covar=1e-3): added to the initial covariance's diagonal
COVARS_PRIOR = 1e-2  # GaussianHMM(covars_prior=1e-2, covars_weight=1)
CHOLESKY_JITTER = 1e-7  # hmmlearn.stats._log_multivariate_normal_density_full retries with this on the diagonal
KMEANS_N_INIT = 10
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4
_LOG_2PI = float(np.log(2 * np.pi))
_TINY = float(np.finfo(float).tiny)


def _jit(fn):  # noqa: ANN001, ANN202
    """numba-compiled `fn`, cached on disk when there is a writable place for it (else compiled per process)."""
    try:
        return nb.njit(cache=True, nogil=True, error_model="numpy")(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return nb.njit(cache=False, nogil=True, error_model="numpy")(fn)


@dataclass(frozen=True)
class GaussianHMMFit:
    """A fitted Gaussian HMM (attributes named as hmmlearn's) and its log-likelihood on the training rows."""

    startprob_: np.ndarray
    transmat_: np.ndarray
    means_: np.ndarray
    covars_: np.ndarray  # (n, f, f) for "full", (n, f) for "diag"
    covariance_type: str
    log_likelihood: float
    n_iter: int

    def score_samples(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-likelihood of `x` and the posterior state probabilities per row (hmmlearn's `score_samples`)."""
        x = np.ascontiguousarray(x, dtype=float)
        post = np.empty((len(x), len(self.startprob_)))
        ok, log_prob = _score(x, self.startprob_, self.transmat_, self.means_, _square(self.covars_, self.covariance_type),
                              self.covariance_type == "full", post)
        if not ok:
            raise ValueError("covariance matrix is not symmetric positive-definite")
        return log_prob, post

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.score_samples(x)[1]


# ------------------------------------------------------------------ compiled kernels


@_jit
def _cholesky(a: np.ndarray, jitter: float, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Lower Cholesky factor of a + jitter·I into `out`; False when not positive definite (or not finite)."""
    n = a.shape[0]
    for j in range(n):
        s = a[j, j] + jitter
        for k in range(j):
            s -= out[j, k] * out[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        out[j, j] = d
        for i in range(j + 1, n):
            t = a[i, j]
            for k in range(j):
                t -= out[i, k] * out[j, k]
            out[i, j] = t / d
        for i in range(j):
            out[i, j] = 0.0
    return True


@_jit
def _log_density(x: np.ndarray, means: np.ndarray, covars: np.ndarray, full: bool, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """log N(x_t | mean_c, cov_c) per row and state into `out`; False when a covariance is not usable."""
    n_samples, n_features = x.shape
    n_states = means.shape[0]
    for c in range(n_states):
        for k in range(n_features):
            if not np.isfinite(means[c, k]):
                return False
    if full:
        chol = np.empty((n_features, n_features))
        diff = np.empty(n_features)
        for c in range(n_states):
            cv = covars[c]
            for i in range(n_features):
                for j in range(n_features):
                    if not np.isfinite(cv[i, j]):
                        return False
            if not _cholesky(cv, 0.0, chol):
                if not _cholesky(cv, CHOLESKY_JITTER, chol):
                    return False
            log_det = 0.0
            for k in range(n_features):
                log_det += np.log(chol[k, k])
            log_det *= 2.0
            for t in range(n_samples):
                q = 0.0
                for i in range(n_features):  # forward substitution: L z = x − μ
                    s = x[t, i] - means[c, i]
                    for k in range(i):
                        s -= chol[i, k] * diff[k]
                    diff[i] = s / chol[i, i]
                    q += diff[i] * diff[i]
                out[t, c] = -0.5 * (n_features * _LOG_2PI + q + log_det)
    else:
        for c in range(n_states):
            log_det = 0.0
            for k in range(n_features):
                if not np.isfinite(covars[c, k, k]):
                    return False
                log_det += np.log(max(covars[c, k, k], _TINY))
            for t in range(n_samples):
                q = 0.0
                for k in range(n_features):
                    d = x[t, k] - means[c, k]
                    q += d * d / max(covars[c, k, k], _TINY)
                out[t, c] = -0.5 * (n_features * _LOG_2PI + log_det + q)
    return True


@_jit
def _logsumexp(v: np.ndarray) -> float:  # pragma: no cover - compiled
    m = v[0]
    for i in range(1, v.shape[0]):
        if v[i] > m:
            m = v[i]
    if np.isinf(m):
        return m
    acc = 0.0
    for i in range(v.shape[0]):
        acc += np.exp(v[i] - m)
    return np.log(acc) + m


@_jit
def _logaddexp(a: float, b: float) -> float:  # pragma: no cover - compiled
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    return max(a, b) + np.log1p(np.exp(-abs(b - a)))


@_jit
def _forward(log_start: np.ndarray, log_trans: np.ndarray, lfp: np.ndarray, fwd: np.ndarray) -> float:  # pragma: no cover - compiled
    n_samples, n = lfp.shape
    buf = np.empty(n)
    for i in range(n):
        fwd[0, i] = log_start[i] + lfp[0, i]
    for t in range(1, n_samples):
        for j in range(n):
            for i in range(n):
                buf[i] = fwd[t - 1, i] + log_trans[i, j]
            fwd[t, j] = _logsumexp(buf) + lfp[t, j]
    return _logsumexp(fwd[n_samples - 1])


@_jit
def _backward(log_trans: np.ndarray, lfp: np.ndarray, bwd: np.ndarray) -> None:  # pragma: no cover - compiled
    n_samples, n = lfp.shape
    buf = np.empty(n)
    for i in range(n):
        bwd[n_samples - 1, i] = 0.0
    for t in range(n_samples - 2, -1, -1):
        for i in range(n):
            for j in range(n):
                buf[j] = log_trans[i, j] + lfp[t + 1, j] + bwd[t + 1, j]
            bwd[t, i] = _logsumexp(buf)


@_jit
def _posteriors(fwd: np.ndarray, bwd: np.ndarray, post: np.ndarray) -> None:  # pragma: no cover - compiled
    """exp(fwd + bwd) normalised per row in log space (hmmlearn's `_compute_posteriors_log`)."""
    n_samples, n = fwd.shape
    row = np.empty(n)
    for t in range(n_samples):
        for i in range(n):
            row[i] = fwd[t, i] + bwd[t, i]
        lse = _logsumexp(row)
        for i in range(n):
            post[t, i] = np.exp(row[i] - lse)


@_jit
def _estep_log(startprob: np.ndarray, transmat: np.ndarray, lfp: np.ndarray, want_xi: bool, fwd: np.ndarray,
               bwd: np.ndarray, post: np.ndarray, xi_sum: np.ndarray) -> float:  # pragma: no cover - compiled
    """hmmlearn's log-space E-step (`_hmmc.forward_log`, `backward_log`, `compute_log_xi_sum`): the log-likelihood,
    the posteriors into `post` and, with `want_xi`, Σ_t ξ_t into `xi_sum`."""
    n_samples, n = lfp.shape
    log_trans = np.log(transmat)
    log_prob = _forward(np.log(startprob), log_trans, lfp, fwd)
    _backward(log_trans, lfp, bwd)
    _posteriors(fwd, bwd, post)
    if want_xi:
        xi_sum[:, :] = -np.inf
        for t in range(n_samples - 1):
            for i in range(n):
                for j in range(n):
                    xi_sum[i, j] = _logaddexp(
                        xi_sum[i, j], fwd[t, i] + log_trans[i, j] + lfp[t + 1, j] + bwd[t + 1, j] - log_prob)
        for i in range(n):
            for j in range(n):
                xi_sum[i, j] = np.exp(xi_sum[i, j])
    return log_prob


@_jit
def _estep_scaled(startprob: np.ndarray, transmat: np.ndarray, lfp: np.ndarray, want_xi: bool, fwd: np.ndarray,
                  bwd: np.ndarray, post: np.ndarray, xi_sum: np.ndarray) -> tuple[bool, float]:  # pragma: no cover - compiled
    """The same E-step in probability space with per-row scaling (Rabiner's scaled forward-backward): the same
    quantities up to rounding, with ~1/20 of the exp/log calls. Each row's emission densities are divided by the
    row's largest one before exponentiating (the factor cancels in the posteriors and ξ and is added back to the
    log-likelihood). Returns ok = False when a forward sum underflows or is not finite: the caller then runs the
    log-space E-step."""
    n_samples, n = lfp.shape
    fp = np.empty((n_samples, n))
    scale = np.empty(n_samples)
    log_prob = 0.0
    for t in range(n_samples):
        m = lfp[t, 0]
        for j in range(1, n):
            if lfp[t, j] > m:
                m = lfp[t, j]
        if not np.isfinite(m):
            return False, np.nan
        for j in range(n):
            fp[t, j] = np.exp(lfp[t, j] - m)
        log_prob += m
    for t in range(n_samples):
        total = 0.0
        for j in range(n):
            if t == 0:
                a = startprob[j] * fp[0, j]
            else:
                a = 0.0
                for i in range(n):
                    a += fwd[t - 1, i] * transmat[i, j]
                a *= fp[t, j]
            fwd[t, j] = a
            total += a
        if not (total >= 1e-300 and total < np.inf):
            return False, np.nan
        scale[t] = total
        inv = 1.0 / total
        for j in range(n):
            fwd[t, j] *= inv
        log_prob += np.log(total)
    for i in range(n):
        bwd[n_samples - 1, i] = 1.0
    tmp = np.empty(n)
    for t in range(n_samples - 2, -1, -1):
        inv = 1.0 / scale[t + 1]
        for j in range(n):
            tmp[j] = fp[t + 1, j] * bwd[t + 1, j] * inv
        for i in range(n):
            b = 0.0
            for j in range(n):
                b += transmat[i, j] * tmp[j]
            bwd[t, i] = b
        if want_xi:
            for i in range(n):
                for j in range(n):
                    xi_sum[i, j] += fwd[t, i] * transmat[i, j] * tmp[j]
    for t in range(n_samples):
        total = 0.0
        for i in range(n):
            post[t, i] = fwd[t, i] * bwd[t, i]
            total += post[t, i]
        for i in range(n):
            post[t, i] /= total
    return True, log_prob


@_jit
def _estep(startprob: np.ndarray, transmat: np.ndarray, lfp: np.ndarray, want_xi: bool, fwd: np.ndarray,
           bwd: np.ndarray, post: np.ndarray, xi_sum: np.ndarray) -> float:  # pragma: no cover - compiled
    """The scaled E-step, or the log-space one where scaling underflows."""
    xi_sum[:, :] = 0.0
    ok, log_prob = _estep_scaled(startprob, transmat, lfp, want_xi, fwd, bwd, post, xi_sum)
    if ok and np.isfinite(log_prob):
        return log_prob
    xi_sum[:, :] = 0.0
    return _estep_log(startprob, transmat, lfp, want_xi, fwd, bwd, post, xi_sum)


@_jit
def _score(x: np.ndarray, startprob: np.ndarray, transmat: np.ndarray, means: np.ndarray, covars: np.ndarray,
           full: bool, post: np.ndarray) -> tuple[bool, float]:  # pragma: no cover - compiled
    """hmmlearn's `score_samples`: (ok, log-likelihood) and the posteriors into `post`."""
    n_samples, n = x.shape[0], startprob.shape[0]
    lfp = np.empty((n_samples, n))
    if not _log_density(x, means, covars, full, lfp):
        return False, np.nan
    fwd = np.empty((n_samples, n))
    bwd = np.empty((n_samples, n))
    return True, _estep(startprob, transmat, lfp, False, fwd, bwd, post, np.empty((n, n)))


@_jit
def _em(x: np.ndarray, startprob: np.ndarray, transmat: np.ndarray, means: np.ndarray, covars: np.ndarray,
        full: bool, n_iter: int, tol: float) -> tuple[bool, int]:  # pragma: no cover - compiled
    """hmmlearn's `fit` loop, updating the parameters in place. Returns (ok, iterations run)."""
    n_samples, n_features = x.shape
    n = startprob.shape[0]
    lfp = np.empty((n_samples, n))
    fwd = np.empty((n_samples, n))
    bwd = np.empty((n_samples, n))
    post = np.empty((n_samples, n))
    s_post = np.empty(n)
    s_obs = np.empty((n, n_features))
    s_sq = np.empty((n, n_features, n_features))
    s_trans = np.empty((n, n))
    previous = np.nan
    for it in range(n_iter):
        # E-step
        if not _log_density(x, means, covars, full, lfp):
            return False, it
        log_prob = _estep(startprob, transmat, lfp, n_samples > 1, fwd, bwd, post, s_trans)
        s_post[:] = 0.0
        s_obs[:, :] = 0.0
        s_sq[:, :, :] = 0.0
        for t in range(n_samples):
            for c in range(n):
                p = post[t, c]
                s_post[c] += p
                for k in range(n_features):
                    s_obs[c, k] += p * x[t, k]
                    if full:
                        for m in range(n_features):
                            s_sq[c, k, m] += p * x[t, k] * x[t, m]
                    else:
                        s_sq[c, k, k] += p * x[t, k] * x[t, k]
        # M-step (priors: startprob/transmat 1.0, means_weight 0, covars_prior 1e-2, covars_weight 1)
        total = 0.0
        for i in range(n):
            v = max(post[0, i], 0.0)
            startprob[i] = 0.0 if startprob[i] == 0 else v
            total += startprob[i]
        for i in range(n):
            startprob[i] /= total
        for i in range(n):
            total = 0.0
            for j in range(n):
                v = max(s_trans[i, j], 0.0)
                transmat[i, j] = 0.0 if transmat[i, j] == 0 else v
                total += transmat[i, j]
            if total == 0:
                total = 1.0
            for j in range(n):
                transmat[i, j] /= total
        for c in range(n):
            for k in range(n_features):
                means[c, k] = s_obs[c, k] / s_post[c]
        for c in range(n):
            if full:
                for k in range(n_features):
                    for m in range(n_features):
                        obsmean_km = s_obs[c, k] * means[c, m]
                        obsmean_mk = s_obs[c, m] * means[c, k]
                        c_n = s_sq[c, k, m] - obsmean_km - obsmean_mk + means[c, k] * means[c, m] * s_post[c]
                        covars[c, k, m] = (COVARS_PRIOR + c_n) / s_post[c]
            else:
                for k in range(n_features):
                    c_n = s_sq[c, k, k] - 2 * means[c, k] * s_obs[c, k] + means[c, k] ** 2 * s_post[c]
                    covars[c, k, k] = (COVARS_PRIOR + c_n) / max(s_post[c], 1e-5)
        # convergence monitor: stop after n_iter or when the gain is below tol
        if it > 0 and log_prob - previous < tol:
            return True, it + 1
        previous = log_prob
    return True, n_iter


@_jit
def _sq_dist_to(xc: np.ndarray, x_sq: np.ndarray, row: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """sklearn's `_euclidean_distances(row, X, squared=True)`: ‖row‖² − 2 row·x + ‖x‖², floored at 0."""
    n_samples, n_features = xc.shape
    rr = 0.0
    for k in range(n_features):
        rr += row[k] * row[k]
    for t in range(n_samples):
        dot = 0.0
        for k in range(n_features):
            dot += row[k] * xc[t, k]
        out[t] = max(-2.0 * dot + rr + x_sq[t], 0.0)


@_jit
def _kmeans_plusplus(xc: np.ndarray, x_sq: np.ndarray, first: int, uniforms: np.ndarray, centers: np.ndarray) -> None:  # pragma: no cover - compiled
    n_samples = xc.shape[0]
    n_clusters, n_trials = uniforms.shape[0] + 1, uniforms.shape[1]
    centers[0] = xc[first]
    closest = np.empty(n_samples)
    _sq_dist_to(xc, x_sq, xc[first], closest)
    pot = 0.0
    for t in range(n_samples):
        pot += closest[t]
    cums = np.empty(n_samples)
    cand = np.empty((n_trials, n_samples))
    ids = np.empty(n_trials, dtype=np.int64)
    for c in range(1, n_clusters):
        s = 0.0
        for t in range(n_samples):
            s += closest[t]
            cums[t] = s
        for r in range(n_trials):
            ids[r] = min(np.searchsorted(cums, uniforms[c - 1, r] * pot), n_samples - 1)
        best, best_pot = 0, np.inf
        for r in range(n_trials):
            _sq_dist_to(xc, x_sq, xc[ids[r]], cand[r])
            p = 0.0
            for t in range(n_samples):
                cand[r, t] = min(closest[t], cand[r, t])
                p += cand[r, t]
            if p < best_pot:
                best, best_pot = r, p
        pot = best_pot
        closest[:] = cand[best]
        centers[c] = xc[ids[best]]


@_jit
def _assign(xc: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> None:  # pragma: no cover - compiled
    """Nearest centre by ‖c‖² − 2 x·c (sklearn's Lloyd E-step; the first centre wins ties)."""
    n_samples, n_features = xc.shape
    n_clusters = centers.shape[0]
    c_sq = np.empty(n_clusters)
    for j in range(n_clusters):
        s = 0.0
        for k in range(n_features):
            s += centers[j, k] * centers[j, k]
        c_sq[j] = s
    for t in range(n_samples):
        label, best = 0, 0.0
        for j in range(n_clusters):
            dot = 0.0
            for k in range(n_features):
                dot += xc[t, k] * centers[j, k]
            d = c_sq[j] - 2.0 * dot
            if j == 0 or d < best:
                label, best = j, d
        labels[t] = label


@_jit
def _lloyd(xc: np.ndarray, centers: np.ndarray, tol: float, max_iter: int, labels: np.ndarray) -> tuple[bool, float]:  # pragma: no cover - compiled
    """sklearn's `_kmeans_single_lloyd` from `centers` (updated in place). Returns (no empty cluster, inertia)."""
    n_samples, n_features = xc.shape
    n_clusters = centers.shape[0]
    labels_old = np.full(n_samples, -1, dtype=np.int64)
    new = np.empty_like(centers)
    weight = np.empty(n_clusters)
    strict = False
    for _ in range(max_iter):
        _assign(xc, centers, labels)
        new[:, :] = 0.0
        weight[:] = 0.0
        for t in range(n_samples):
            weight[labels[t]] += 1.0
            for k in range(n_features):
                new[labels[t], k] += xc[t, k]
        shift = 0.0
        for j in range(n_clusters):
            if weight[j] == 0:
                return False, np.nan  # sklearn relocates empty clusters: left to sklearn
            alpha = 1.0 / weight[j]
            d2 = 0.0
            for k in range(n_features):
                new[j, k] *= alpha
                d = new[j, k] - centers[j, k]
                d2 += d * d
            shift += d2
        centers[:, :] = new
        same = True
        for t in range(n_samples):
            if labels[t] != labels_old[t]:
                same = False
                break
        if same:
            strict = True
            break
        if shift <= tol:
            break
        labels_old[:] = labels
    if not strict:
        _assign(xc, centers, labels)
    inertia = 0.0
    for t in range(n_samples):
        for k in range(n_features):
            d = xc[t, k] - centers[labels[t], k]
            inertia += d * d
    return True, inertia


@_jit
def _same_clustering(a: np.ndarray, b: np.ndarray, n_clusters: int) -> bool:  # pragma: no cover - compiled
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    for i in range(a.shape[0]):
        if mapping[a[i]] == -1:
            mapping[a[i]] = b[i]
        elif mapping[a[i]] != b[i]:
            return False
    return True


@_jit
def _kmeans(xc: np.ndarray, firsts: np.ndarray, uniforms: np.ndarray, tol: float, max_iter: int,
            best_centers: np.ndarray) -> bool:  # pragma: no cover - compiled
    """sklearn's KMeans.fit loop over len(firsts) k-means++ runs (data already centred); False on an empty cluster."""
    n_samples, n_features = xc.shape
    n_clusters = best_centers.shape[0]
    x_sq = np.empty(n_samples)
    for t in range(n_samples):
        s = 0.0
        for k in range(n_features):
            s += xc[t, k] * xc[t, k]
        x_sq[t] = s
    centers = np.empty((n_clusters, n_features))
    labels = np.empty(n_samples, dtype=np.int64)
    best_labels = np.empty(n_samples, dtype=np.int64)
    best_inertia = np.inf
    for run in range(firsts.shape[0]):
        _kmeans_plusplus(xc, x_sq, firsts[run], uniforms[run], centers)
        ok, inertia = _lloyd(xc, centers, tol, max_iter, labels)
        if not ok:
            return False
        if run == 0 or (inertia < best_inertia and not _same_clustering(labels, best_labels, n_clusters)):
            best_inertia = inertia
            best_centers[:, :] = centers
            best_labels[:] = labels
    return True


# ------------------------------------------------------------------ initialisation and fit


def _square(covars: np.ndarray, covariance_type: str) -> np.ndarray:
    """The kernels' (n, f, f) layout: full covariances as they are, diagonal ones on the diagonal (only it is read)."""
    if covariance_type == "full":
        return np.ascontiguousarray(covars, dtype=float)
    return np.ascontiguousarray(np.stack([np.diag(c) for c in covars]), dtype=float)


def kmeans_centers(x: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """The cluster centres of sklearn's `KMeans(n_clusters, n_init=10, random_state=seed).fit(x)`."""
    x = np.ascontiguousarray(x, dtype=float)
    rs = np.random.RandomState(seed)
    n = len(x)
    weights = np.ones(n)
    n_trials = 2 + int(np.log(n_clusters))
    firsts = np.empty(KMEANS_N_INIT, dtype=np.int64)
    uniforms = np.empty((KMEANS_N_INIT, n_clusters - 1, n_trials))
    for run in range(KMEANS_N_INIT):  # the draws of sklearn's _kmeans_plusplus, in its order
        firsts[run] = rs.choice(n, p=weights / weights.sum())
        for c in range(n_clusters - 1):
            uniforms[run, c] = rs.uniform(size=n_trials)
    x_mean = x.mean(axis=0)
    xc = x - x_mean
    tol = float(np.mean(np.var(x, axis=0)) * KMEANS_TOL)
    centers = np.empty((n_clusters, x.shape[1]))
    if not _kmeans(xc, firsts, uniforms, tol, KMEANS_MAX_ITER, centers):
        from sklearn.cluster import KMeans  # an emptied cluster: sklearn's relocation, not replicated here
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return KMeans(n_clusters=n_clusters, random_state=seed, n_init=KMEANS_N_INIT).fit(x).cluster_centers_
    return centers + x_mean


def initial_parameters(x: np.ndarray, n_states: int, covariance_type: str, seed: int) -> tuple[np.ndarray, ...]:
    """startprob, transmat, means, covars as `GaussianHMM(n_states, covariance_type, random_state=seed)._init(x)`."""
    rs = np.random.RandomState(seed)
    alpha = np.full(n_states, 1.0 / n_states)
    startprob = rs.dirichlet(alpha)
    transmat = rs.dirichlet(alpha, size=n_states)
    means = kmeans_centers(x, n_states, seed)
    cv = np.cov(x.T) + MIN_COVAR * np.eye(x.shape[1])
    covars = np.tile(cv, (n_states, 1, 1)) if covariance_type == "full" else np.tile(np.diag(cv), (n_states, 1))
    return startprob, transmat, means, covars


def fit_gaussian_hmm(x: np.ndarray, n_states: int, covariance_type: str = "full", seed: int = 0, *,
                     n_iter: int = 200, tol: float = 1e-2) -> GaussianHMMFit:
    """`GaussianHMM(n_states, covariance_type, n_iter=n_iter, tol=tol, random_state=seed).fit(x)` and its `score(x)`.

    Raises ValueError where hmmlearn's fit or score would (a covariance not positive definite, non-finite
    parameters, a transition row that no longer sums to 1)."""
    if covariance_type not in ("full", "diag"):
        raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
    x = np.ascontiguousarray(x, dtype=float)
    startprob, transmat, means, covars = initial_parameters(x, n_states, covariance_type, seed)
    full = covariance_type == "full"
    covars = _square(covars, covariance_type)
    ok, iterations = _em(x, startprob, transmat, means, covars, full, n_iter, tol)
    if not ok:
        raise ValueError("covariance matrix is not symmetric positive-definite (or not finite)")
    if not (np.allclose(startprob.sum(), 1) and np.allclose(transmat.sum(axis=1), 1)):
        raise ValueError("startprob_ or transmat_ rows do not sum to 1")
    ok, log_prob = _score(x, startprob, transmat, means, covars, full, np.empty((len(x), n_states)))
    if not ok:
        raise ValueError("covariance matrix is not symmetric positive-definite (or not finite)")
    if not full:
        covars = np.ascontiguousarray(np.diagonal(covars, axis1=1, axis2=2))
    return GaussianHMMFit(startprob, transmat, means, covars, covariance_type, float(log_prob), iterations)

