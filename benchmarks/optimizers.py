"""Benchmark: wall time of each portfolio method on a synthetic 300-asset universe with ~1 year of daily returns.

Usage: python benchmarks/optimizers.py [--assets 300] [--days 365] [--turnover]
The market is a one-factor model (betas 0.5–1.5, idiosyncratic vol 2–6%/day); constraints are three tiers
(50/30/20%, ±10% band), a 2% cap per asset, min_assets 60 and, with --turnover, a 20% turnover cap vs random holdings.
"""
import argparse
import time
from datetime import date, timedelta

import numpy as np
import polars as pl

from dca_pipeline.portfolio.estimates import estimate_inputs
from dca_pipeline.portfolio.methods import METHODS, optimize
from dca_pipeline.portfolio.problem import PortfolioConstraints, unconstrained


def synthetic_prices(n: int, days: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.001, 0.03, days)
    rets = market[:, None] * rng.uniform(0.5, 1.5, n) + rng.normal(0, 1, (days, n)) * rng.uniform(0.02, 0.06, n)
    closes = 10 * np.exp(np.cumsum(rets, axis=0))
    start = date(2024, 1, 1)
    return pl.DataFrame({"date": [start + timedelta(days=i) for i in range(days)], **{f"C{i:03d}": closes[:, i] for i in range(n)}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--turnover", action="store_true")
    args = parser.parse_args()
    prices = synthetic_prices(args.assets, args.days)
    estimate_inputs(prices.head(30).select(prices.columns[:4]))  # warm-up: first call imports pypfopt/sklearn
    t0 = time.perf_counter()
    est = estimate_inputs(prices)
    print(f"{args.assets} assets × {args.days} days; Ledoit-Wolf estimates: {time.perf_counter() - t0:.2f} s")
    symbols = list(est.cov.index)
    tier_of = {s: ("t1" if i % 10 < 5 else "t2" if i % 10 < 8 else "t3") for i, s in enumerate(symbols)}
    rng = np.random.default_rng(1)
    previous = dict(zip(symbols, rng.dirichlet(np.ones(len(symbols))))) if args.turnover else {}
    constrained = PortfolioConstraints(
        caps={s: 0.02 for s in symbols},
        tier_of=tier_of,
        tier_bounds={"t1": (0.45, 0.55), "t2": (0.27, 0.33), "t3": (0.18, 0.22)},
        min_assets=60,
        previous=previous,
        turnover_cap=0.20 if args.turnover else None,
    )
    scores = dict(zip(symbols, rng.normal(0, 1, len(symbols))))
    print(f"{'method':<16}{'unconstrained s':>16}{'constrained s':>15}{'assets > 0':>12}{'exp. vol':>10}  fallback")
    for method in METHODS:
        times = []
        for c in (unconstrained(symbols), constrained):
            t0 = time.perf_counter()
            r = optimize(method, est.mu, est.cov, c, risk_free_rate=0.1075, returns=est.returns, scores=scores)
            times.append(time.perf_counter() - t0)
        held = sum(w > 1e-6 for w in r.weights.values())
        print(f"{method:<16}{times[0]:>16.2f}{times[1]:>15.2f}{held:>12}{r.expected_volatility:>10.3f}  {r.fallback or '-'}")


if __name__ == "__main__":
    main()
