"""GARCH(1,1) maximum likelihood with analytic gradients: the model `arch` fits, ~20× faster per series.

The backtest fits one GARCH per coin per month (thousands of fits); `arch.arch_model(...).fit()` spends most
of its ~40 ms in numerical differentiation of the objective and of its linear constraint. This module fits
the same model — constant mean, normal errors, arch's exponentially weighted backcast for the first
variance — with exact gradients computed by linear recursions (`scipy.signal.lfilter`), and is tested
against `arch` on the bundled coins (dca_pipeline_tests/intelligence/test_garch.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

try:  # lfilter's C core: the public wrapper's argument checks cost more than filtering 365 values
    from scipy.signal._sigtools import _linear_filter
except ImportError:  # a SciPy without it: the public function gives the same numbers
    _linear_filter = None

BACKCAST_DECAY = 0.94  # arch's GARCH.backcast: weights 0.94**i over the first 75 squared residuals
BACKCAST_OBS = 75
MAX_PERSISTENCE = 1.0 - 1e-6  # α + β stays below 1: a stationary variance
MAX_ITER = 100
BOUND_EPS = 1e-6  # a transformed parameter this close to 0 is on its bound
KKT_TOLERANCE = 1e-3  # a gradient more negative than this on a bound means the bound is not optimal
MAX_STEP = 5.0  # largest move of any transformed parameter per iteration
TOLERANCE = 1e-12  # stop when the Newton decrement predicts less than this relative improvement of −log L
_LOG_2PI = float(np.log(2 * np.pi))
_ONE = np.array([1.0])


@dataclass(frozen=True)
class GarchFit:
    """Fitted parameters (of the series as given), the last residual and variance, and the optimizer's status."""

    mu: float
    omega: float
    alpha: float
    beta: float
    last_resid: float
    last_variance: float
    loglikelihood: float
    converged: bool


def _ar1(x: np.ndarray, beta: float) -> np.ndarray:
    """y_t = x_t + β y_{t−1} along the last axis: the variance recursion and every one of its derivatives."""
    a = np.array([1.0, -beta])
    if _linear_filter is not None:
        return _linear_filter(_ONE, a, x, -1)
    return lfilter(_ONE, a, x)


def _variance_path(eps2: np.ndarray, omega: float, alpha: float, beta: float, backcast: float) -> np.ndarray:
    """σ²_t = ω + α ε²_{t−1} + β σ²_{t−1}, with ε²_{−1} = σ²_{−1} = backcast (arch's convention)."""
    drive = np.empty_like(eps2)
    drive[0] = omega + (alpha + beta) * backcast
    np.multiply(eps2[:-1], alpha, out=drive[1:])
    drive[1:] += omega
    return _ar1(drive, beta)


def _nll(s2: np.ndarray, eps2: np.ndarray) -> float:
    return 0.5 * float(np.sum(np.log(s2) + eps2 / s2) + len(s2) * _LOG_2PI)


def backcast_variance(y: np.ndarray) -> float:
    """arch's σ²₀ proxy: exponentially weighted (0.94) mean of the first 75 squared demeaned values, fixed during the fit."""
    w = BACKCAST_DECAY ** np.arange(min(BACKCAST_OBS, len(y)))
    d = y[: len(w)] - y.mean()
    return float((w / w.sum()) @ (d * d))


def _derivatives(theta: np.ndarray, y: np.ndarray, backcast: float) -> tuple[float, np.ndarray, np.ndarray]:
    """−log L, its gradient and its exact Hessian in θ = (μ, ω, α, β).

    With n_t = ½(log σ²_t + ε²_t/σ²_t): ∂n_t/∂σ² = g_t = ½(σ⁻² − ε²σ⁻⁴), ∂²n_t/∂(σ²)² = h_t = ε²σ⁻⁶ − ½σ⁻⁴.
    First derivatives D = ∂σ²/∂θ and second derivatives D2 follow AR(1) recursions in β (one `lfilter` each):
    D_t = x_t + β D_{t−1} with x_t = (−2αε_{t−1}, 1, ε²_{t−1}, σ²_{t−1}); D2_t = F_t + β D2_{t−1} with forcing
    F_μμ = 2α, F_μα = −2ε_{t−1}, F_iβ = D_{t−1,i} (i ≠ β), F_ββ = 2D_{t−1,β}; all other pairs vanish.
    """
    mu, omega, alpha, beta = (float(v) for v in theta)
    eps = y - mu
    eps2 = eps * eps
    n = len(y)
    s2 = _variance_path(eps2, omega, alpha, beta, backcast)
    inv = 1.0 / s2
    nll = 0.5 * float(np.sum(np.log(s2) + eps2 * inv) + n * _LOG_2PI)
    g = 0.5 * inv * (1.0 - eps2 * inv)
    h = inv * inv * (eps2 * inv - 0.5)
    x = np.empty((4, n))
    x[0, 0], x[0, 1:] = 0.0, -2.0 * alpha * eps[:-1]
    x[1] = 1.0
    x[2, 0], x[2, 1:] = backcast, eps2[:-1]
    x[3, 0], x[3, 1:] = backcast, s2[:-1]
    d = _ar1(x, beta)
    f = np.zeros((6, n))  # pairs (μμ, μα, μβ, ωβ, αβ, ββ)
    f[0, 1:] = 2.0 * alpha
    f[1, 1:] = -2.0 * eps[:-1]
    f[2, 1:], f[3, 1:], f[4, 1:] = d[0, :-1], d[1, :-1], d[2, :-1]
    f[5, 1:] = 2.0 * d[3, :-1]
    d2 = _ar1(f, beta)
    e4 = eps * inv * inv
    grad = d @ g
    grad[0] -= float(eps @ inv)
    hess = (d * h) @ d.T
    for k, (a, b) in enumerate(((0, 0), (0, 2), (0, 3), (1, 3), (2, 3), (3, 3))):
        term = float(d2[k] @ g)
        hess[a, b] += term
        if a != b:
            hess[b, a] += term
    cross = d @ e4
    hess[0, :] += cross
    hess[:, 0] += cross
    hess[0, 0] += float(inv.sum())
    return nll, grad, hess


def negative_loglikelihood(theta: np.ndarray, y: np.ndarray, backcast: float) -> tuple[float, np.ndarray]:
    """−log L and its exact gradient for θ = (μ, ω, α, β) of a Gaussian GARCH(1,1) with constant mean."""
    nll, grad, _ = _derivatives(theta, y, backcast)
    return nll, grad


def _nll_only(theta: np.ndarray, y: np.ndarray, backcast: float) -> float:
    eps2 = (y - theta[0]) ** 2
    return _nll(_variance_path(eps2, theta[1], theta[2], theta[3], backcast), eps2)


def _to_theta(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """φ = (μ, v, p, a) → θ = (μ, ω = v², α, β) with persistence P = c·sin²p and α share sin²a; also dθ/dφ (4×4)
    and ∂²θ_k/∂φ² (4×4×4).

    ω ≥ 0, α, β ≥ 0 and α + β ≤ c < 1 hold for every φ, so the search is unconstrained; squares make a boundary
    optimum (ω, α or β = 0, common on quiet coins) an ordinary stationary point that Newton reaches in a step or two
    (a log or logit transform would crawl towards it)."""
    mu, v, p, a = (float(x) for x in phi)
    omega = v * v
    persistence = MAX_PERSISTENCE * np.sin(p) ** 2
    dp, ddp = MAX_PERSISTENCE * np.sin(2 * p), 2 * MAX_PERSISTENCE * np.cos(2 * p)
    sa, ds, dds = np.sin(a) ** 2, np.sin(2 * a), 2 * np.cos(2 * a)
    theta = np.array([mu, omega, persistence * sa, persistence * (1 - sa)])
    jac = np.zeros((4, 4))
    jac[0, 0], jac[1, 1] = 1.0, 2 * v
    jac[2, 2], jac[3, 2] = sa * dp, (1 - sa) * dp
    jac[2, 3], jac[3, 3] = persistence * ds, -persistence * ds
    second = np.zeros((4, 4, 4))
    second[1, 1, 1] = 2.0
    second[2, 2, 2], second[2, 2, 3], second[2, 3, 3] = ddp * sa, dp * ds, persistence * dds
    second[3, 2, 2], second[3, 2, 3], second[3, 3, 3] = ddp * (1 - sa), -dp * ds, -persistence * dds
    second[:, 3, 2] = second[:, 2, 3]
    return theta, jac, second


def _theta_only(phi: np.ndarray) -> np.ndarray:
    """θ of `_to_theta` without the derivatives (line-search trial points)."""
    mu, v, p, a = (float(x) for x in phi)
    persistence, share = MAX_PERSISTENCE * np.sin(p) ** 2, np.sin(a) ** 2
    return np.array([mu, v * v, persistence * share, persistence * (1 - share)])


def _to_phi(theta: np.ndarray) -> np.ndarray:
    mu, omega, alpha, beta = theta
    return np.array([mu, np.sqrt(omega), np.arcsin(np.sqrt((alpha + beta) / MAX_PERSISTENCE)), np.arcsin(np.sqrt(alpha / (alpha + beta)))])


def _starting_values(y: np.ndarray, backcast: float) -> np.ndarray:
    """arch's grid: α in {.01,.05,.1,.2}, persistence in {.5,.7,.9,.98}, ω = var × (1 − persistence); best by likelihood."""
    mu = float(y.mean())
    target = float(np.mean((y - mu) ** 2))
    best, best_nll = None, np.inf
    eps2 = (y - mu) ** 2
    for alpha in (0.01, 0.05, 0.1, 0.2):
        for persistence in (0.5, 0.7, 0.9, 0.98):
            if alpha >= persistence:
                continue
            theta = np.array([mu, target * (1 - persistence), alpha, persistence - alpha])
            nll = _nll(_variance_path(eps2, theta[1], alpha, theta[3], backcast), eps2)
            if nll < best_nll:
                best, best_nll = theta, nll
    return best


def _newton(phi: np.ndarray, z: np.ndarray, backcast: float) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Minimize −log L over φ from `phi`: returns φ, −log L, the θ-gradient there, and whether it converged."""
    converged = False
    nll = grad_theta = None
    for _ in range(MAX_ITER):
        theta, jac, second = _to_theta(phi)
        nll, grad_theta, hess_theta = _derivatives(theta, z, backcast)
        grad = jac.T @ grad_theta
        hess = jac.T @ hess_theta @ jac + np.einsum("k,kij->ij", grad_theta, second)
        values, vectors = np.linalg.eigh(hess)
        floor = 1e-10 * max(float(np.abs(values).max()), 1e-300)
        step = -vectors @ ((vectors.T @ grad) / np.maximum(np.abs(values), floor))
        norm = float(np.abs(step).max())
        if norm > MAX_STEP:
            step *= MAX_STEP / norm
        slope = float(grad @ step)
        if slope > -TOLERANCE * (1 + abs(nll)):
            converged = True  # the Newton decrement says no meaningful improvement is left
            break
        t = 1.0
        while t > 1e-10:
            with np.errstate(all="ignore"):
                trial = _nll_only(_theta_only(phi + t * step), z, backcast)
            if np.isfinite(trial) and trial <= nll + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            converged = True  # no descent along the Newton direction: at the optimum to machine precision
            break
        phi = phi + t * step
        nll = None  # moved: the values above belong to the previous point
    if nll is None:  # stopped by the iteration limit right after a step
        nll, grad_theta, _ = _derivatives(_theta_only(phi), z, backcast)
    return phi, nll, grad_theta, converged


def _off_boundary(theta: np.ndarray, grad_theta: np.ndarray) -> np.ndarray | None:
    """A restart point when θ sits on a bound (ω, α or β ≈ 0) that the likelihood wants to leave, else None.

    Squared parametrizations make every bound a stationary point of φ; the KKT sign test tells a true boundary
    optimum (gradient pushing into the bound) from one the search merely stalled on."""
    at_bound = (theta[1:] < BOUND_EPS) & (grad_theta[1:] < -KKT_TOLERANCE)
    if not at_bound.any():
        return None
    mu, omega, alpha, beta = theta
    alpha, beta = max(alpha, 0.05), max(beta, 0.5)
    scale = min(1.0, 0.9 / (alpha + beta))
    return np.array([mu, max(omega, 0.05), alpha * scale, beta * scale])


def fit_garch11(y: np.ndarray) -> GarchFit:
    """Maximum-likelihood GARCH(1,1) of `y`; parameters are reported on the scale of `y`.

    Constraints as in arch (ω > 0, α, β ≥ 0, α + β < 1) hold by construction of the search space (`_to_theta`).
    Optimizer: Newton with the exact Hessian (eigenvalues made positive where it is not convex) and a
    backtracking line search, on y / std(y) so the problem is well scaled whatever the units; one restart
    when it stalls on a bound the KKT conditions reject. A lean loop instead of scipy.optimize, whose
    per-call overhead dominated thousands of small fits.
    """
    y = np.asarray(y, dtype=float)
    s = float(np.std(y)) or 1.0
    z = y / s
    backcast = backcast_variance(z)
    phi, nll, grad_theta, converged = _newton(_to_phi(_starting_values(z, backcast)), z, backcast)
    restart = _off_boundary(_to_theta(phi)[0], grad_theta)
    if restart is not None:
        phi2, nll2, grad2, converged2 = _newton(_to_phi(restart), z, backcast)
        if nll2 < nll:
            phi, nll, converged = phi2, nll2, converged2
    theta = _to_theta(phi)[0]
    mu, omega, alpha, beta = (float(v) for v in theta)
    eps = z - mu
    s2 = _variance_path(eps * eps, omega, alpha, beta, backcast)
    loglik = -_nll(s2, eps * eps) - len(y) * np.log(s)  # density of y = density of z / s, per observation
    return GarchFit(mu * s, omega * s * s, alpha, beta, float(eps[-1]) * s, float(s2[-1]) * s * s, loglik, converged)


def forecast_mean_variance(fit: GarchFit, horizon: int) -> float:
    """Mean of the h = 1..horizon step-ahead variances: σ²₁ = ω + α ε²_T + β σ²_T, σ²_h = ω + (α+β) σ²_{h−1}."""
    variance = fit.omega + fit.alpha * fit.last_resid**2 + fit.beta * fit.last_variance
    total = 0.0
    for _ in range(horizon):
        total += variance
        variance = fit.omega + (fit.alpha + fit.beta) * variance
    return total / horizon
