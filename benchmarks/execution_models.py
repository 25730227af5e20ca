"""Implementation shortfall of the three execution models on the bundled history (figures, not assertions).

Usage: python benchmarks/execution_models.py [--start 2022-01-01] [--end 2025-10-31]
Each model runs the same walk-forward backtest (execution.model = market_open | twap | maker_first); the bundle has
daily bars only, so twap and maker_first run on hours derived from each daily bar (execution/intraday_fill.py).
Prints, per model: its shortfall against the decision price, that of next-open market orders for the same orders,
the difference, fees, final value and the wall time.
"""
import argparse
import time
from datetime import date

from dca_pipeline.backtest import run_backtest
from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--start", type=date.fromisoformat, default=date(2022, 1, 1))
    p.add_argument("--end", type=date.fromisoformat, default=date(2025, 10, 31))
    args = p.parse_args()
    base = load_settings()
    print(f"{args.start} → {args.end}; shortfall in bps of the value at the decision price (fees included)")
    print(f"{'model':<12} {'orders':>7} {'model bps':>10} {'next-open bps':>14} {'diff bps':>9} {'fees R$':>9} {'final R$':>11} {'time s':>7}")
    for model in ("market_open", "twap", "maker_first"):
        t = time.perf_counter()
        r = run_backtest(override(base, "execution.model", model), args.start, args.end)
        m = r.metrics
        n = int((r.tca["model"] == model).sum())
        print(f"{model:<12} {n:>7} {m['shortfall_bps']:>10.1f} {m['shortfall_market_open_bps']:>14.1f} "
              f"{m['shortfall_vs_market_open_bps']:>9.1f} {m['total_fees_brl']:>9.2f} {float(r.equity['value_brl'][-1]):>11.2f} "
              f"{time.perf_counter() - t:>7.1f}")


if __name__ == "__main__":
    main()
