"""Point-in-time optimizer inputs: daily returns, annualized mean returns and Ledoit-Wolf shrunk covariance."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import polars as pl

from dca_pipeline.analytics.indicators import ANNUALIZATION_DAYS


@dataclass(frozen=True)
class Estimates:
    """Annualized (× 365: crypto trades every day) expected returns and covariance, plus the daily returns."""

    mu: pd.Series
    cov: pd.DataFrame
    returns: pd.DataFrame


def estimate_inputs(prices: pl.DataFrame, frequency: int = ANNUALIZATION_DAYS) -> Estimates:
    """Estimates from a wide `date` + close-per-symbol frame (rows with any gap dropped, as the optimizer needs)."""
    from pypfopt import expected_returns  # heavy import: only here

    from dca_pipeline.portfolio.covariance import ledoit_wolf_covariance

    symbols = [s for s in prices.columns if s != "date"]
    frame = prices.select(symbols).to_pandas().dropna()
    if len(frame) < 3:
        raise ValueError(f"need at least 3 complete price rows for {len(symbols)} symbols, got {len(frame)}")
    cov = ledoit_wolf_covariance(frame, frequency)  # = CovarianceShrinkage(...).ledoit_wolf(), tested equal
    mu = expected_returns.mean_historical_return(frame, frequency=frequency)
    return Estimates(mu=mu, cov=cov, returns=frame.pct_change().dropna(how="all"))
