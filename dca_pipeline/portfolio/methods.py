"""Portfolio construction methods under one constraint set: max Sharpe, min variance, risk parity, HRP,
Black-Litterman (views from asset scores) and min CVaR, each returning weights plus diagnostics.

Convex methods solve with the constraints inside PyPortfolioOpt/cvxpy; HRP and risk parity have no native
constraints, so their weights are projected onto the feasible set (nearest point in least squares).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from pypfopt.exceptions import OptimizationError

from dca_pipeline.portfolio.problem import (
    TOL,
    InfeasibleConstraints,
    PortfolioConstraints,
    find_conflicts,
    repair,
)

SOLVER = "CLARABEL"  # interior point: accurate where cvxpy's default for QPs (OSQP) stops at ~1e-4 and is slow at 300 assets
TURNOVER_MARGIN = 1e-5  # one-way turnover kept below the cap inside the solver
METHODS = ("max_sharpe", "min_variance", "risk_parity", "hrp", "black_litterman", "min_cvar")


@dataclass(frozen=True)
class BlackLittermanViews:
    """How scores become views: Q_i = π_i + view_scale · z_i · σ_i, confidence_i = min(max_conf, base + slope·|z_i|).

    z is the cross-sectional z-score of the asset scores (clipped to ±3), σ_i the asset's annualized volatility,
    π the equilibrium returns implied by an equal-weight market with `risk_aversion`.
    """

    view_scale: float = 0.25
    base_confidence: float = 0.2
    confidence_slope: float = 0.2
    max_confidence: float = 0.8
    tau: float = 0.05
    risk_aversion: float = 2.5


@dataclass(frozen=True)
class OptimizationResult:
    """Weights (fractions of the whole portfolio) and what produced them."""

    weights: dict[str, float]
    method: str
    constraints: str
    expected_return: float
    expected_volatility: float
    sharpe: float
    binding: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    fallback: str | None = None
    details: dict[str, float | str] = field(default_factory=dict)

    def metadata(self) -> dict[str, float | int | str]:
        """Flat, JSON-friendly diagnostics for Dagster metadata."""
        return {
            "method": self.method,
            "constraints": self.constraints,
            "expected_return": self.expected_return,
            "expected_volatility": self.expected_volatility,
            "expected_sharpe": self.sharpe,
            "binding_constraints": "; ".join(self.binding) or "none",
            "constraint_conflicts": "; ".join(self.conflicts) or "none",
            "fallback": self.fallback or "none",
            **self.details,
        }


def performance(weights: dict[str, float], mu: pd.Series | None, cov: pd.DataFrame, risk_free_rate: float) -> tuple[float, float, float]:
    """(expected return, volatility, Sharpe) of the weights; cash (1 − Σw) earns nothing."""
    symbols = list(cov.index)
    w = np.array([weights.get(s, 0.0) for s in symbols])
    vol = float(math.sqrt(max(0.0, w @ cov.to_numpy() @ w)))
    ret = float(w @ mu.reindex(symbols).to_numpy()) if mu is not None else float("nan")
    sharpe = (ret - risk_free_rate) / vol if vol > 0 and mu is not None else float("nan")
    return ret, vol, sharpe


def equal_risk_contribution(cov: np.ndarray, budgets: np.ndarray | None = None, tol: float = 1e-10, max_sweeps: int = 2000) -> np.ndarray:
    """Long-only weights whose risk contributions w_i (Σw)_i are proportional to `budgets` (default equal).

    Cyclical coordinate descent on min ½ yᵀΣy − Σ b_i log y_i (Griveau-Billion et al. 2013), then y / Σy.
    """
    n = cov.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, float) / np.sum(budgets)
    y = 1.0 / np.sqrt(np.diag(cov))
    y = y / y.sum()
    sigma_y = cov @ y
    for _ in range(max_sweeps):
        biggest = 0.0
        for i in range(n):
            a = cov[i, i]
            rest = sigma_y[i] - a * y[i]
            new = (-rest + math.sqrt(rest * rest + 4 * a * b[i])) / (2 * a)
            delta = new - y[i]
            if delta:
                sigma_y += cov[:, i] * delta
                y[i] = new
                biggest = max(biggest, abs(delta) / new)
        if biggest < tol:
            break
    return y / y.sum()


def optimize(
    method: str,
    mu: pd.Series | None,
    cov: pd.DataFrame,
    constraints: PortfolioConstraints,
    risk_free_rate: float = 0.0,
    returns: pd.DataFrame | None = None,
    scores: dict[str, float] | None = None,
    infeasible_policy: str = "relax_cap",
    relax_headroom: float = 0.25,
    views: BlackLittermanViews = BlackLittermanViews(),
    risk_budgets: dict[str, float] | None = None,
) -> OptimizationResult:
    """Weights for `method` under `constraints`; conflicts are found before solving and repaired by the fallback.

    `mu`/`cov` are annualized; `returns` (daily) is needed by min_cvar, `scores` by black_litterman. A max_sharpe
    problem where no asset beats the risk-free rate falls back to min_variance (reported in `fallback`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown optimization method {method!r}; choose one of {', '.join(METHODS)}")
    symbols = list(cov.index)
    if set(symbols) != set(constraints.caps):
        raise ValueError(f"covariance symbols {sorted(symbols)} differ from constrained symbols {sorted(constraints.caps)}")
    conflicts = find_conflicts(constraints)
    fallbacks: list[str] = []
    if conflicts:
        constraints, notes = repair(constraints, infeasible_policy, relax_headroom)
        left = find_conflicts(constraints)
        if left:
            raise InfeasibleConstraints("constraints conflict: " + "; ".join(conflicts) + " — still after fallback: " + "; ".join(left))
        fallbacks.append(f"{infeasible_policy}: " + "; ".join(notes))
    need = min_turnover_needed(constraints)
    if need is not None and need > constraints.turnover_cap - 2 * TURNOVER_MARGIN:  # type: ignore[operator]
        conflicts.append(
            f"turnover cap {constraints.turnover_cap:.2%} < {need:.2%} needed just to meet caps/tiers from current holdings"
        )
        fallbacks.append("turnover constraint dropped (the caller's turnover blend applies)")
        constraints = replace(constraints, turnover_cap=None)
    used, details = method, {}
    if method == "max_sharpe" and (mu is None or float(mu.max()) <= risk_free_rate):
        fallbacks.append(f"max_sharpe impossible: no asset's expected return beats the risk-free rate {risk_free_rate:.2%}; used min_variance")
        used = "min_variance"
    try:
        x = _polish(_solve(used, mu, cov, constraints, risk_free_rate, returns, scores, views, risk_budgets, details), symbols, constraints)
    except OptimizationError as exc:
        if used == "min_variance":
            raise InfeasibleConstraints(f"min_variance failed under {constraints.describe()}: {exc}") from exc
        reason = "no feasible portfolio's expected return beats the risk-free rate" if used == "max_sharpe" else str(exc)
        fallbacks.append(f"{used} failed ({reason}); used min_variance")
        used = "min_variance"
        x = _polish(_solve(used, mu, cov, constraints, risk_free_rate, returns, scores, views, risk_budgets, details), symbols, constraints)
    weights = _finish(x, symbols, constraints)
    ret, vol, sharpe = performance(weights, mu, cov, risk_free_rate)
    return OptimizationResult(
        weights=weights,
        method=used,
        constraints=constraints.describe(),
        expected_return=ret,
        expected_volatility=vol,
        sharpe=sharpe,
        binding=tuple(binding_constraints(weights, constraints)),
        conflicts=tuple(conflicts),
        fallback=" | ".join(fallbacks) or None,
        details=details,
    )


def _normalized(c: PortfolioConstraints, symbols: list[str]) -> tuple[list[tuple[float, float]], dict, dict, dict, float | None]:
    """Bounds, tier bounds, tier map and previous weights of the problem rescaled to Σx = 1 (x = w / invested)."""
    inv = c.invested
    eff = c.effective_caps()
    bounds = [(0.0, min(1.0, eff[s] / inv)) for s in symbols]
    lower = {t: lo / inv for t, (lo, _) in c.tier_bounds.items()}
    upper = {t: min(1.0, hi / inv) for t, (_, hi) in c.tier_bounds.items()}
    prev = {s: v / inv for s, v in c.previous.items()}
    # the solver gets a slightly tighter L1 budget so its round-off (amplified by max_sharpe's 1/k) stays under the cap
    l1 = 2 * (c.turnover_cap - TURNOVER_MARGIN) / inv if c.turnover_cap is not None and c.previous else None
    return bounds, lower, upper, prev, l1


def _add_constraints(opt, symbols: list[str], c: PortfolioConstraints) -> None:
    """Tier bounds and the L1 turnover limit written as `expression (<=|==) constant`, so max_sharpe can rescale them."""
    import cvxpy as cp

    _, lower, upper, prev, l1 = _normalized(c, symbols)
    if c.tier_bounds:
        # keyed by the optimizer's tickers: EfficientCVaR without expected returns names assets 0..n-1
        mapper = {t: c.tier_of.get(s, "__untiered__") for t, s in zip(opt.tickers, symbols)}
        opt.add_sector_constraints(mapper, lower, upper)
    if l1 is not None:
        n = len(symbols)
        up, down = cp.Variable(n), cp.Variable(n)  # buys and sells of the normalized weights
        p = np.array([prev.get(s, 0.0) for s in symbols])
        gone = sum(v for s, v in prev.items() if s not in symbols)  # sold out of names no longer eligible
        opt.add_constraint(lambda w: w - up + down == p)
        opt.add_constraint(lambda w: -up <= 0)
        opt.add_constraint(lambda w: -down <= 0)
        opt.add_constraint(lambda w: cp.sum(up + down) <= l1 - gone)


def _solve(method, mu, cov, c, rf, returns, scores, views, risk_budgets, details) -> np.ndarray:
    """Normalized weights (Σ = 1) for one method."""
    from pypfopt import EfficientCVaR, EfficientFrontier

    symbols = list(cov.index)
    bounds, *_ = _normalized(c, symbols)
    if method in ("min_variance", "max_sharpe"):
        ef = EfficientFrontier(mu if method == "max_sharpe" else None, cov, weight_bounds=bounds, solver=SOLVER)
        _add_constraints(ef, symbols, c)
        ef.max_sharpe(risk_free_rate=rf) if method == "max_sharpe" else ef.min_volatility()
        return np.asarray(ef.weights, float)
    if method == "min_cvar":
        if returns is None:
            raise ValueError("min_cvar needs the daily returns")
        ecv = EfficientCVaR(None, returns[symbols].dropna(), beta=0.95, weight_bounds=bounds, solver=SOLVER)
        _add_constraints(ecv, symbols, c)
        ecv.min_cvar()
        return np.asarray(ecv.weights, float)
    if method == "black_litterman":
        posterior, post_cov = black_litterman_returns(cov, scores or {}, views, rf)
        details["bl_mean_view_minus_prior"] = float((posterior - _prior(cov, views, rf)).mean())
        ef = EfficientFrontier(posterior, post_cov, weight_bounds=bounds, solver=SOLVER)
        _add_constraints(ef, symbols, c)
        ef.max_quadratic_utility(risk_aversion=views.risk_aversion)
        return np.asarray(ef.weights, float)
    if method == "hrp":
        target = hrp_weights(cov, returns)
    else:  # risk_parity
        b = None if risk_budgets is None else np.array([risk_budgets.get(s, 0.0) for s in symbols])
        target = equal_risk_contribution(cov.to_numpy(), b)
    x = project(target, symbols, c)
    details["projection_distance"] = float(np.abs(x - target).sum() / 2)
    return x


def violation(x: np.ndarray, symbols: list[str], c: PortfolioConstraints) -> float:
    """Largest breach of any constraint by normalized weights `x` (0 when all hold)."""
    bounds, lower, upper, prev, l1 = _normalized(c, symbols)
    worst = max(0.0, float(-x.min()), float(np.max(x - np.array([b[1] for b in bounds]))), abs(float(x.sum()) - 1))
    for tier in c.tier_bounds:
        total = float(sum(x[i] for i, s in enumerate(symbols) if c.tier_of.get(s) == tier))
        worst = max(worst, lower[tier] - total, total - upper[tier])
    if l1 is not None:
        gone = sum(v for s, v in prev.items() if s not in symbols)
        l1_true = l1 + 2 * TURNOVER_MARGIN / c.invested
        worst = max(worst, float(np.abs(x - np.array([prev.get(s, 0.0) for s in symbols])).sum()) + gone - l1_true)
    return worst


def _polish(x: np.ndarray, symbols: list[str], c: PortfolioConstraints) -> np.ndarray:
    """Solver round-off beyond 1e-9 (max_sharpe's 1/k rescaling amplifies it) → nearest exactly feasible point."""
    x = np.nan_to_num(np.asarray(x, float))
    if violation(x, symbols, c) <= 1e-9:
        return x
    x = _clip_and_spread(x * c.invested, symbols, c) / c.invested  # exact for caps, tiers and the sum
    return project(x, symbols, c) if violation(x, symbols, c) > 1e-9 else x


def hrp_weights(cov: pd.DataFrame, returns: pd.DataFrame | None = None, linkage_method: str = "single") -> np.ndarray:
    """Hierarchical risk parity (López de Prado) with PyPortfolioOpt's HRPOpt steps.

    Clusters come from the returns' pairwise correlation when `returns` is given (else from `cov`), the
    recursive bisection uses `cov` (e.g. the shrunk one); with cov = returns.cov() this is exactly HRPOpt(returns).
    """
    import scipy.cluster.hierarchy as sch
    import scipy.spatial.distance as ssd
    from pypfopt import HRPOpt, risk_models

    symbols = list(cov.index)
    corr = returns[symbols].corr() if returns is not None else risk_models.cov_to_corr(cov).round(6)
    dist = ssd.squareform(np.sqrt(np.clip((1.0 - corr) / 2.0, a_min=0.0, a_max=1.0)), checks=False)
    order = HRPOpt._get_quasi_diag(sch.linkage(dist, linkage_method))  # positions in `symbols`
    return _recursive_bisection(cov.to_numpy(), np.asarray(order))


def _recursive_bisection(cov: np.ndarray, order: np.ndarray) -> np.ndarray:
    """HRPOpt._raw_hrp_allocation on numpy arrays (its pandas indexing takes ~10 s at 300 assets): halve each
    cluster of the quasi-diagonal order and split weight by inverse cluster variance."""

    def cluster_var(items: np.ndarray) -> float:
        sub = cov[np.ix_(items, items)]
        ivp = 1 / np.diag(sub)
        ivp /= ivp.sum()
        return float(ivp @ sub @ ivp)

    w = np.ones(cov.shape[0])
    clusters = [order]
    while clusters:
        clusters = [c[j:k] for c in clusters for j, k in ((0, len(c) // 2), (len(c) // 2, len(c))) if len(c) > 1]
        for i in range(0, len(clusters), 2):
            first, second = clusters[i], clusters[i + 1]
            v1, v2 = cluster_var(first), cluster_var(second)
            alpha = 1 - v1 / (v1 + v2)
            w[first] *= alpha
            w[second] *= 1 - alpha
    return w


PROJECTION_ATTEMPTS = ((1e6, {}), (1.0, {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}), (1.0, {}))


def project(target: np.ndarray, symbols: list[str], c: PortfolioConstraints) -> np.ndarray:
    """Nearest normalized weights to `target` (least squares) satisfying caps, tier bounds and turnover."""
    import cvxpy as cp

    bounds, lower, upper, prev, l1 = _normalized(c, symbols)
    x = cp.Variable(len(symbols))
    hi = np.array([b[1] for b in bounds])
    cons = [cp.sum(x) == 1, x >= 0, x <= hi]
    for tier in c.tier_bounds:
        idx = [i for i, s in enumerate(symbols) if c.tier_of.get(s) == tier]
        if idx:
            cons += [cp.sum(x[idx]) >= lower[tier], cp.sum(x[idx]) <= upper[tier]]
    if l1 is not None:
        p = np.array([prev.get(s, 0.0) for s in symbols])
        gone = sum(v for s, v in prev.items() if s not in symbols)
        cons.append(cp.norm1(x - p) <= l1 - gone)
    if l1 is None and np.all(target <= hi + TOL) and all(_tiers_ok(target, symbols, c, lower, upper)):
        return target  # already feasible: HRP / risk parity untouched
    # scaled: the solver's absolute gap tolerance would otherwise allow ~1e-4 errors on a tiny distance. The
    # scaling can leave the interior point method numerically stuck on a far target (solver_error): then the
    # unscaled distance with tight tolerances, then with the solver's defaults
    for scale, options in PROJECTION_ATTEMPTS:
        try:
            problem = cp.Problem(cp.Minimize(scale * cp.sum_squares(x - target)), cons)
            problem.solve(solver=SOLVER, **options)
        except cp.error.SolverError:
            continue
        if problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and x.value is not None:
            return np.asarray(x.value, float)
    raise InfeasibleConstraints(f"projection onto the constraints failed: {c.describe()}")


def _tiers_ok(x: np.ndarray, symbols: list[str], c: PortfolioConstraints, lower: dict, upper: dict) -> list[bool]:
    out = []
    for tier in c.tier_bounds:
        total = sum(x[i] for i, s in enumerate(symbols) if c.tier_of.get(s) == tier)
        out.append(lower[tier] - TOL <= total <= upper[tier] + TOL)
    return out


def min_turnover_needed(c: PortfolioConstraints) -> float | None:
    """Smallest one-way turnover from `previous` that meets caps and tier bounds (an LP); None when no turnover cap."""
    if c.turnover_cap is None or not c.previous:
        return None
    import cvxpy as cp

    symbols = c.symbols
    bounds, lower, upper, prev, _ = _normalized(c, symbols)
    x = cp.Variable(len(symbols))
    cons = [cp.sum(x) == 1, x >= 0, x <= np.array([b[1] for b in bounds])]
    for tier in c.tier_bounds:
        idx = [i for i, s in enumerate(symbols) if c.tier_of.get(s) == tier]
        if idx:
            cons += [cp.sum(x[idx]) >= lower[tier], cp.sum(x[idx]) <= upper[tier]]
    p = np.array([prev.get(s, 0.0) for s in symbols])
    gone = sum(v for s, v in prev.items() if s not in symbols)
    problem = cp.Problem(cp.Minimize(cp.norm1(x - p)), cons)
    problem.solve(solver=SOLVER)
    if problem.value is None:
        return float("inf")
    return float((problem.value + gone) / 2 * c.invested)


def _prior(cov: pd.DataFrame, views: BlackLittermanViews, rf: float) -> pd.Series:
    """Equilibrium returns π = δ Σ w_eq + rf of an equal-weight market."""
    n = len(cov)
    return pd.Series(views.risk_aversion * cov.to_numpy() @ np.full(n, 1.0 / n) + rf, index=cov.index)


def black_litterman_returns(
    cov: pd.DataFrame, scores: dict[str, float], views: BlackLittermanViews, rf: float
) -> tuple[pd.Series, pd.DataFrame]:
    """Posterior expected returns and covariance with one absolute view per scored asset (see BlackLittermanViews).

    Ω is diagonal: Ω_ii = τ Σ_ii (1 − c_i) / c_i, so confidence c → 1 trusts the view fully, c → 0 ignores it.
    """
    from pypfopt.black_litterman import BlackLittermanModel

    pi = _prior(cov, views, rf)
    names = [s for s in cov.index if s in scores and scores[s] is not None and np.isfinite(scores[s])]
    if not names:
        return pi, cov
    raw = np.array([scores[s] for s in names], float)
    sd = raw.std()
    z = np.clip((raw - raw.mean()) / sd, -3, 3) if sd > 0 else np.zeros(len(names))
    sigma = np.sqrt(np.diag(cov.loc[names, names].to_numpy()))
    q = pi.loc[names].to_numpy() + views.view_scale * z * sigma
    conf = np.minimum(views.max_confidence, views.base_confidence + views.confidence_slope * np.abs(z))
    omega = np.diag(views.tau * sigma**2 * (1 - conf) / conf)
    bl = BlackLittermanModel(cov, pi=pi, absolute_views=dict(zip(names, q)), omega=omega, tau=views.tau)
    return bl.bl_returns(), bl.bl_cov()


def _finish(x: np.ndarray, symbols: list[str], c: PortfolioConstraints) -> dict[str, float]:
    """Scale back to the invested share and remove solver round-off: clip to [0, cap], then give each tier (and the
    whole) back the mass the clipping took, spread over the assets with room in proportion to that room."""
    w = _clip_and_spread(np.nan_to_num(np.asarray(x, float)) * c.invested, symbols, c)
    return {s: float(v) for s, v in zip(symbols, w)}


def _clip_and_spread(raw: np.ndarray, symbols: list[str], c: PortfolioConstraints) -> np.ndarray:
    """Absolute weights clipped to [0, cap], each tier's total clamped into its bounds and the sum restored."""
    eff = np.array([c.effective_caps()[s] for s in symbols])
    w = np.clip(raw, 0.0, eff)
    groups = [np.array([c.tier_of.get(s) == t for s in symbols]) for t in c.tier_bounds]
    wanted = [min(max(raw[g].sum(), lo), hi) for g, (lo, hi) in zip(groups, c.tier_bounds.values())]
    for g, want in [*zip(groups, wanted), (np.ones(len(symbols), bool), c.invested)]:
        _spread(w, g, want - w[g].sum(), eff)
    return w


def _spread(w: np.ndarray, group: np.ndarray, delta: float, caps: np.ndarray) -> None:
    """Add `delta` to the weights in `group` in proportion to their room below cap (or remove it pro rata)."""
    if abs(delta) < 1e-15 or not group.any():
        return
    base = np.where(group, caps - w if delta > 0 else w, 0.0)
    total = base.sum()
    if total > 0:
        w += base / total * min(abs(delta), total) * np.sign(delta)
        np.clip(w, 0.0, caps, out=w)


def binding_constraints(weights: dict[str, float], c: PortfolioConstraints, tol: float = 1e-6) -> list[str]:
    """Which constraints are active at the solution: assets at cap, tiers at a bound, the turnover cap."""
    out: list[str] = []
    eff = c.effective_caps()
    at_cap = sorted(s for s, w in weights.items() if w >= eff[s] - tol)
    if at_cap:
        out.append(f"at cap ({len(at_cap)}): {', '.join(at_cap)}")
    if any(eff[s] < c.caps[s] - tol for s in at_cap):
        out.append(f"min_assets {c.min_assets} tightened caps to {c.invested / c.min_assets:.2%}")
    for tier, (lo, hi) in sorted(c.tier_bounds.items()):
        total = sum(weights.get(s, 0.0) for s in c.members(tier))
        if hi - lo <= tol:
            out.append(f"tier {tier} fixed at {lo:.2%}")
        elif total <= lo + tol:
            out.append(f"tier {tier} at minimum {lo:.2%}")
        elif total >= hi - tol:
            out.append(f"tier {tier} at maximum {hi:.2%}")
    if c.turnover_cap is not None and c.previous:
        t = 0.5 * sum(abs(weights.get(s, 0.0) - c.previous.get(s, 0.0)) for s in set(weights) | set(c.previous))
        if t >= c.turnover_cap - tol:
            out.append(f"turnover cap {c.turnover_cap:.2%} active")
    return out
