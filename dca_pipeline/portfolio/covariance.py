"""Ledoit-Wolf shrunk covariance exactly as PyPortfolioOpt computes it, without its per-call package scan.

`risk_models.CovarianceShrinkage.__init__` checks that scikit-learn is installed by scanning every installed
distribution's metadata (0.1–0.25 s a call on this machine, once per monthly optimization). This function
runs the same steps with PyPortfolioOpt's own helpers and scikit-learn's estimator; a test proves equality.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def ledoit_wolf_covariance(prices: pd.DataFrame, frequency: int) -> pd.DataFrame:
    """Annualized Ledoit-Wolf covariance (constant-variance target) of the simple returns of `prices`."""
    from pypfopt.expected_returns import returns_from_prices
    from pypfopt.risk_models import fix_nonpositive_semidefinite
    from sklearn.covariance import ledoit_wolf

    returns = returns_from_prices(prices).dropna(how="all")
    shrunk, _delta = ledoit_wolf(np.nan_to_num(returns.values))
    cov = pd.DataFrame(shrunk, index=returns.columns, columns=returns.columns) * frequency
    return fix_nonpositive_semidefinite(cov, fix_method="spectral")
