"""Our Ledoit-Wolf shortcut equals PyPortfolioOpt's CovarianceShrinkage on prices with a late listing."""
import numpy as np
import pandas as pd
from pypfopt import risk_models

from dca_pipeline.portfolio.covariance import ledoit_wolf_covariance

def _prices() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    walk = np.exp(np.cumsum(rng.normal(0.0005, 0.03, (400, 12)), axis=0))
    frame = pd.DataFrame(walk, columns=[f"C{i}" for i in range(12)])
    frame.iloc[:50, 3] = np.nan  # a coin listed later, as in the bundled data
    return frame


def test_equals_pypfopt_ledoit_wolf() -> None:
    prices = _prices()
    ours = ledoit_wolf_covariance(prices, 365)
    theirs = risk_models.CovarianceShrinkage(prices, frequency=365).ledoit_wolf()
    pd.testing.assert_frame_equal(ours, theirs, rtol=1e-12, atol=0)
