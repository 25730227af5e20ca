"""Benchmark: wall time of a full walk-forward backtest (monthly tiers/scores/optimization + daily execution).

Usage:
  python benchmarks/backtest.py                      # synthetic: 60 coins × 5 years (the issue's size)
  python benchmarks/backtest.py --bundled            # the point-in-time bundle, 2017-01 → 2025-10 (8.8 years)
  python benchmarks/backtest.py --bundled --regime   # … with the monthly regime (HMM) timeline
  python benchmarks/backtest.py --bundled --sweep 4  # four configurations sharing one data load and feature pass
Prints wall time, peak RSS and each stage's share (BacktestResult.timings: data, features, tiers, scores, GARCH,
HMM, optimisation, daily loop, benchmarks).
The synthetic market is geometric Brownian motion with market caps spread over the seed's tier ranges.
"""
import argparse
import time
from datetime import date, timedelta

import numpy as np
import polars as pl


class SyntheticSource:
    """A MarketDataSource over generated prices: `n` coins, daily bars, monthly market-cap snapshots."""

    name = "synthetic"

    def __init__(self, n: int, start: date, end: date, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        t = len(days)
        vol = rng.uniform(0.03, 0.08, n)
        rets = rng.normal(0.0005, 1, (n, t)) * vol[:, None]
        close = 5 * np.exp(np.cumsum(rets, axis=1))
        high, low = close * (1 + rng.uniform(0, 0.04, (n, t))), close * (1 - rng.uniform(0, 0.04, (n, t)))
        symbols = [f"C{i:02d}/BRL" for i in range(n)]
        self.bars = pl.DataFrame({
            "symbol": np.repeat(symbols, t), "date": days * n, "open": np.clip(close * (1 + rng.normal(0, 0.005, (n, t))), low, high).ravel(),
            "high": high.ravel(), "low": low.ravel(), "close": close.ravel(), "volume": rng.uniform(1e5, 1e6, n * t),
        }).with_columns((pl.col("volume") * pl.col("close")).alias("volume_brl"))
        self.caps = pl.DataFrame({"base": [s.split("/")[0] for s in symbols], "symbol": symbols,
                                  "market_cap_usd": np.exp(rng.uniform(np.log(6e6), np.log(3.9e8), n))})

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        return self.bars.filter(pl.col("date").is_between(start, end))

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        return self.caps.with_columns(pl.lit(as_of.replace(day=1)).alias("snapshot_date"))


def main() -> None:
    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundled", action="store_true")
    parser.add_argument("--coins", type=int, default=60)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--regime", action="store_true", help="also fit the monthly regime HMM (the tearsheet's timeline)")
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="run N configurations (turnover caps) through backtest.sweep.run_sweep: one shared data load")
    args = parser.parse_args()
    if args.bundled:
        start, end, source = date(2017, 1, 1), date(2025, 10, 31), None
    else:
        start = date(2017, 1, 1)
        end = start + timedelta(days=round(args.years * 365) - 1)
        source = SyntheticSource(args.coins, start - timedelta(days=800), end + timedelta(days=1))
    import resource

    if args.sweep:
        sweep(args, start, end, source)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_backtest(load_settings(), start, end, source=source, with_regime=args.regime)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    years = ((end - start).days + 1) / 365
    label = "bundled history" if args.bundled else f"synthetic, {args.coins} coins"
    print(f"backtest ({label}) {start} → {end}: {years:.2f} years, {result.targets['month'].n_unique()} monthly optimizations,")
    print(f"  {result.targets['symbol'].n_unique()} distinct assets held, {len(result.fills):,} fills")
    print(f"  wall time {elapsed:.1f} s  ({elapsed / years:.1f} s per simulated year), regime timeline {'on' if args.regime else 'off'},"
          f" peak RSS {peak_mib:.0f} MiB, CPU time {cpu:.1f} s")
    print_stages(result.timings, elapsed)


def print_stages(timings: dict[str, float], elapsed: float) -> None:
    """Each stage's seconds and share of the wall time (the rest: result assembly outside the timed stages)."""
    from dca_pipeline.backtest.engine import STAGES

    parts = [(s, timings.get(s, 0.0)) for s in STAGES]
    parts.append(("other", max(elapsed - sum(t for _, t in parts), 0.0)))
    print("  stages: " + ", ".join(f"{s} {t:.1f} s ({t / elapsed:.0%})" for s, t in parts))


def sweep(args: argparse.Namespace, start: date, end: date, source: object) -> None:
    """N turnover-cap variants through run_sweep: one MarketHistory (data, features, GARCH and regime caches)."""
    import resource

    from dca_pipeline.backtest.sweep import run_sweep, sweep_settings
    from dca_pipeline.config import load_settings

    caps = [f"{0.10 + 0.05 * i:.2f}" for i in range(args.sweep)]
    variants = sweep_settings(load_settings(), {"portfolio.turnover_cap": caps})
    t0 = time.perf_counter()
    _table, results = run_sweep(variants, start, end, source=source, with_regime=args.regime)
    elapsed = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sweep of {len(variants)} configurations ({'bundled' if args.bundled else 'synthetic'}) {start} → {end}:"
          f" wall time {elapsed:.1f} s ({elapsed / len(variants):.1f} s per configuration), peak RSS {peak_mib:.0f} MiB")
    for name, r in results.items():
        print(f"  {name}: {r.timings['total']:.1f} s")
    total = {k: sum(r.timings.get(k, 0.0) for r in results.values()) for k in results[next(iter(results))].timings}
    print_stages(total, elapsed)


if __name__ == "__main__":
    main()
