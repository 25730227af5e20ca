"""Benchmark: our GARCH(1,1) fit (intelligence/garch.py) against `arch` on every bundled coin's last year.

Usage: python benchmarks/garch.py   — prints ms per fit for both, the speed ratio and the largest forecast gap.
"""
import time
import warnings

import numpy as np
import polars as pl


def main() -> None:
    from arch import arch_model

    from dca_pipeline.ingestion import bundle
    from dca_pipeline.intelligence.garch import fit_garch11, forecast_mean_variance

    series = []
    for (_,), part in bundle.ohlcv_usd().sort("base", "date").partition_by("base", as_dict=True).items():
        with np.errstate(all="ignore"):
            r = np.diff(np.log(part["close"].to_numpy()))[-365:]
        r = 100 * r[np.isfinite(r)]
        if len(r) >= 200:
            series.append(r)
    t0 = time.perf_counter()
    ours = [fit_garch11(r) for r in series]
    t_ours = (time.perf_counter() - t0) / len(series)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [arch_model(r, mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off") for r in series]
    t_arch = (time.perf_counter() - t0) / len(series)
    gap = max(
        abs(np.sqrt(forecast_mean_variance(o, 30) / t.forecast(horizon=30, reindex=False).variance.to_numpy()[-1].mean()) - 1)
        for o, t in zip(ours, theirs)
    )
    better = sum(o.loglikelihood >= t.loglikelihood - 1e-6 for o, t in zip(ours, theirs))
    print(f"{len(series)} bundled coins, 365 daily returns each")
    print(f"  ours {t_ours * 1000:.2f} ms/fit   arch {t_arch * 1000:.2f} ms/fit   ratio {t_arch / t_ours:.1f}x faster")
    print(f"  largest 30-day forecast vol gap {gap:.2e}; optimum at least as good as arch's on {better}/{len(series)}")


if __name__ == "__main__":
    main()
