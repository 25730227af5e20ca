"""Synthetic scores and closes for target-building tests: 18 coins in the seed's three tiers (8/6/4)."""
from datetime import date, timedelta

import numpy as np
import polars as pl

TIER_SIZES = {"tier_1": 8, "tier_2": 6, "tier_3": 4}


def synthetic_market(month: date, days: int = 400, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scores: symbol, tier, score; closes: symbol, date, close) with `days` daily closes before `month`."""
    rng = np.random.default_rng(seed)
    symbols = [f"{t[-1]}C{i}/BRL" for t, n in TIER_SIZES.items() for i in range(n)]
    tiers = [t for t, n in TIER_SIZES.items() for _ in range(n)]
    n = len(symbols)
    market = rng.normal(0.001, 0.03, days)
    rets = market[None, :] * rng.uniform(0.5, 1.5, (n, 1)) + rng.normal(0, 1, (n, days)) * rng.uniform(0.02, 0.06, (n, 1))
    closes = 10 * np.exp(np.cumsum(rets, axis=1))
    dates = [month - timedelta(days=days - i) for i in range(days)]
    frame = pl.DataFrame(
        {"symbol": np.repeat(symbols, days), "date": dates * n, "close": closes.reshape(-1)},
        schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64},
    )
    scores = pl.DataFrame({"symbol": symbols, "tier": tiers, "score": rng.normal(0, 1, n)})
    return scores, frame
