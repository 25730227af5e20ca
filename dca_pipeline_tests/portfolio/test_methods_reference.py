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


def test_min_cvar_matches_pypfopt_efficient_cvar(prices: pd.DataFrame) -> None:
    from pypfopt import EfficientCVaR

    returns = prices.pct_change().dropna().iloc[-400:]
    mu, cov = _inputs(prices[returns.columns])
    ecv = EfficientCVaR(None, returns)
    ecv.min_cvar()  # keys are positions when expected returns are None
    r = optimize("min_cvar", mu, cov, unconstrained(list(cov.index)), returns=returns)
    np.testing.assert_allclose([r.weights[s] for s in returns.columns], ecv.weights, atol=1e-4)
