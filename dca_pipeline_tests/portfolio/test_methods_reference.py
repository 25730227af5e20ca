"""Our optimizer with constraints disabled reproduces PyPortfolioOpt's published results (README and its tests)."""
import numpy as np
import pandas as pd
import pytest

from dca_pipeline.portfolio.methods import equal_risk_contribution, optimize
from dca_pipeline.portfolio.problem import unconstrained
from dca_pipeline_tests.conftest import FIXTURES

PYPFOPT = FIXTURES / "pypfopt"


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_csv(PYPFOPT / "stock_prices.csv", parse_dates=True, index_col="date")


def _inputs(prices: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    from pypfopt import expected_returns, risk_models

    return expected_returns.mean_historical_return(prices), risk_models.sample_cov(prices)


def test_max_sharpe_matches_published_performance(prices: pd.DataFrame) -> None:
    mu, cov = _inputs(prices)
    r = optimize("max_sharpe", mu, cov, unconstrained(list(cov.index)), risk_free_rate=0.02)
    assert (r.expected_return, r.expected_volatility, r.sharpe) == pytest.approx(
        (0.3047768672819914, 0.22165566922402932, 1.2847714127003216), rel=1e-6
    )
    # README's cleaned weights (rounded to 5 decimals there)
    readme = {"GOOG": 0.03835, "AAPL": 0.0689, "FB": 0.20603, "BABA": 0.07315, "AMZN": 0.04033, "BBY": 0.01324,
              "MA": 0.35349, "PFE": 0.1957, "SBUX": 0.01082}
    for s, w in r.weights.items():
        assert w == pytest.approx(readme.get(s, 0.0), abs=1e-4)
    assert r.fallback is None and r.conflicts == ()


def test_min_variance_matches_published_performance(prices: pd.DataFrame) -> None:
    mu, cov = _inputs(prices)
    r = optimize("min_variance", mu, cov, unconstrained(list(cov.index)), risk_free_rate=0.02)
    assert (r.expected_return, r.expected_volatility, r.sharpe) == pytest.approx(
        (0.15056821399482578, 0.15915084514118694, 0.8204054077060996), rel=1e-6
    )
    assert sum(r.weights.values()) == pytest.approx(1.0, abs=1e-9)


def test_hrp_matches_published_weights(prices: pd.DataFrame) -> None:
    returns = prices.pct_change().dropna(how="all")
    expected = pd.read_csv(PYPFOPT / "weights_hrp.csv", index_col=0).iloc[:, 0]
    r = optimize("hrp", None, returns.cov(), unconstrained(list(returns.columns)), returns=returns)
    got = pd.Series(r.weights)[expected.index]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-2)


def test_risk_parity_equalizes_risk_contributions(prices: pd.DataFrame) -> None:
    _, cov = _inputs(prices)
    r = optimize("risk_parity", None, cov, unconstrained(list(cov.index)))
    w = np.array([r.weights[s] for s in cov.index])
    contrib = w * (cov.to_numpy() @ w)
    np.testing.assert_allclose(contrib / contrib.sum(), np.full(len(w), 1 / len(w)), rtol=1e-6)


def test_risk_parity_two_assets_closed_form() -> None:
    # uncorrelated: ERC weights are inverse volatilities, normalized
    cov = np.diag([0.04, 0.16])
    np.testing.assert_allclose(equal_risk_contribution(cov), [2 / 3, 1 / 3], rtol=1e-9)


def _historical_cvar(returns: np.ndarray, w: np.ndarray, beta: float = 0.95) -> float:
    """Rockafellar-Uryasev CVaR of the losses -r.w at level beta: min over alpha of alpha + E[(loss - alpha)+]/(1-beta)."""
    losses = -returns @ w
    alpha = np.quantile(losses, beta, method="inverted_cdf")
    return float(alpha + np.maximum(losses - alpha, 0).mean() / (1 - beta))


def test_min_cvar_matches_an_independent_linear_program(prices: pd.DataFrame) -> None:
    """Reference: the Rockafellar-Uryasev LP solved with scipy's HiGHS (not PyPortfolioOpt, which the code uses)."""
    from scipy.optimize import linprog

    returns = prices.pct_change().dropna().iloc[-400:]
    mu, cov = _inputs(prices[returns.columns])
    r = optimize("min_cvar", mu, cov, unconstrained(list(cov.index)), returns=returns)
    R, beta = returns.to_numpy(), 0.95
    t, n = R.shape
    # variables: w (n), alpha (1), u (t); minimize alpha + sum(u) / ((1 - beta) t)
    c = np.concatenate([np.zeros(n), [1.0], np.full(t, 1 / ((1 - beta) * t))])
    a_ub = np.hstack([-R, -np.ones((t, 1)), -np.eye(t)])  # -r_t.w - alpha - u_t <= 0
    a_eq = np.concatenate([np.ones(n), [0.0], np.zeros(t)])[None, :]
    bounds = [(0, 1)] * n + [(None, None)] + [(0, None)] * t
    lp = linprog(c, A_ub=a_ub, b_ub=np.zeros(t), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    assert lp.status == 0
    ours = np.array([r.weights[s] for s in returns.columns])
    assert ours.sum() == pytest.approx(1.0, abs=1e-6) and (ours >= -1e-8).all()
    assert _historical_cvar(R, ours) == pytest.approx(lp.fun, rel=1e-4)  # the same minimum CVaR
    np.testing.assert_allclose(ours, lp.x[:n], atol=2e-3)
