"""The tearsheet's series, as plain frames: value curves (strategy, invested capital, benchmarks), the drawdown,
rolling 90-day volatility and Sharpe, and calendar-year returns of the strategy and of every benchmark.

Every return here is time-weighted, as in the headline metrics: a curve with contributions is chained with
`verdict.curve_equity` (r = V_t / (V_{t−1} + CF_t) − 1); annualisation uses 365 days (crypto trades every day);
the Sharpe ratio is over the day's risk-free return (`metrics.risk_free_daily`: the real CDI, the fixed rate only
where the series does not reach), like the headline Sharpe.
"""
from __future__ import annotations

import math

import polars as pl

from dca_pipeline.backtest.verdict import curve_equity

ROLLING_DAYS = 90
PERIODS_PER_YEAR = 365
LABELS = {"strategy": "strategy", "invested": "invested capital", "btc_dca": "BTC-only DCA", "top20_dca": "top-20 mcap DCA",
          "equal_weight_dca": "equal-weight DCA", "ibovespa_dca": "Ibovespa DCA", "cdi": "CDI", "btc_lump_sum": "BTC lump sum"}
# (name in charts and tables, column of BacktestResult.benchmarks)
BENCH_SERIES = (("btc_dca", "btc_dca_brl"), ("top20_dca", "top20_dca_brl"), ("equal_weight_dca", "equal_weight_dca_brl"),
                ("ibovespa_dca", "ibovespa_dca_brl"), ("cdi", "cdi_brl"), ("btc_lump_sum", "btc_lump_sum_brl"))


def value_curves(equity: pl.DataFrame, benchmarks: pl.DataFrame) -> pl.DataFrame:
    """date, strategy, invested and one Float64 column per benchmark that has any value (BRL, the benchmarks
    counting their idle cash); a benchmark with no data at all (e.g. top-20 without snapshots) is left out."""
    out = equity.select("date", pl.col("value_brl").cast(pl.Float64).alias("strategy"),
                        pl.col("invested_brl").cast(pl.Float64).alias("invested"))
    present = [(name, col) for name, col in BENCH_SERIES if col in benchmarks.columns and benchmarks[col].null_count() < len(benchmarks)]
    bench = benchmarks.select("date", *[pl.col(col).cast(pl.Float64).alias(name) for name, col in present])
    return out.join(bench, on="date", how="left")


LUMP_SUMS = ("btc_lump_sum",)  # invested whole on the first day (benchmarks.lump_sum), not in daily slices


def curve_returns(curves: pl.DataFrame, name: str) -> pl.DataFrame:
    """date, daily_return, twr of one curve of `value_curves` (the strategy's own equity frame has them already;
    this gives the benchmarks the same time-weighted chain, with their contributions as flows: the daily slices of
    invested capital, or for a lump sum the whole period's budget on the first day)."""
    invested = curves["invested"].to_list()
    if name in LUMP_SUMS:
        invested = [invested[-1]] * len(invested)
    eq = curve_equity(curves["date"].to_list(), invested, curves[name].to_list())
    return eq.select("date", "daily_return", "twr")


def drawdown(twr: pl.Series) -> pl.Series:
    """Drawdown of the time-weighted index 1 + twr from its running peak (0 at a peak, −0.3 = 30% below it)."""
    index = 1 + twr
    return (index / index.cum_max() - 1).alias("drawdown")


def rolling_risk(returns: pl.DataFrame, risk_free: pl.DataFrame | None, window: int = ROLLING_DAYS) -> pl.DataFrame:
    """Rolling annualised volatility and Sharpe over the last `window` daily returns.

    `returns`: date, daily_return (null on days without capital at risk, which are dropped as in the headline
    metrics); `risk_free`: date, rf (`RiskFree.daily`; None = 0). Returns date, volatility, sharpe, where
    volatility = std(r, ddof=1) × √365 and sharpe = mean(r − rf) / std(r − rf, ddof=1) × √365 over the window;
    null until `window` returns exist. Zero spread in the window gives a null Sharpe, not ±inf."""
    rets = returns.select("date", "daily_return").drop_nulls("daily_return").sort("date")
    if risk_free is not None:
        rets = rets.join(risk_free.select("date", "rf"), on="date", how="left")
    else:
        rets = rets.with_columns(pl.lit(0.0).alias("rf"))
    excess = pl.col("daily_return") - pl.col("rf").fill_null(0.0)
    root = math.sqrt(PERIODS_PER_YEAR)
    ex_std = excess.rolling_std(window, min_samples=window, ddof=1)
    return rets.select(
        "date",
        (pl.col("daily_return").rolling_std(window, min_samples=window, ddof=1) * root).alias("volatility"),
        pl.when(ex_std > 1e-12).then(excess.rolling_mean(window, min_samples=window) / ex_std * root).alias("sharpe"),
    )


def yearly_returns(curves: pl.DataFrame, equity: pl.DataFrame | None = None) -> pl.DataFrame:
    """Calendar-year time-weighted return of every curve of `value_curves` but `invested`: year, days (days of the
    year in the window: the first and last years may be partial), then one column per curve.

    Year Y's return is (1 + TWR at Y's last day) / (1 + TWR at the previous year's last day) − 1 (the first year
    from the start). The strategy's TWR is taken from `equity` when given (the engine's own chain), else
    recomputed from its value curve like the benchmarks'."""
    names = [c for c in curves.columns if c not in ("date", "invested")]
    years = curves.select(pl.col("date").dt.year().alias("year")).group_by("year").agg(pl.len().alias("days")).sort("year")
    out = years
    for name in names:
        if name == "strategy" and equity is not None:
            twr = equity.select("date", "twr")
        else:
            twr = curve_returns(curves, name).select("date", "twr")
        ends = (twr.group_by(pl.col("date").dt.year().alias("year")).agg(pl.col("twr").sort_by("date").last())
                .sort("year").with_columns(((1 + pl.col("twr")) / (1 + pl.col("twr").shift(1).fill_null(0.0)) - 1).alias(name)))
        out = out.join(ends.select("year", name), on="year", how="left")
    return out


class TearsheetSeries:
    """Everything the tearsheet draws, computed once from a backtest's equity and benchmark frames.

    curves: `value_curves`; drawdowns: date + one column per curve; rolling: curve name → `rolling_risk` frame
    (the strategy and BTC-only DCA); yearly: `yearly_returns`."""

    def __init__(self, equity: pl.DataFrame, benchmarks: pl.DataFrame, risk_free: pl.DataFrame | None,
                 window: int = ROLLING_DAYS) -> None:
        self.window = window
        self.curves = value_curves(equity, benchmarks)
        names = [c for c in self.curves.columns if c not in ("date", "invested")]
        chains = {n: equity.select("date", "daily_return", "twr") if n == "strategy" else curve_returns(self.curves, n) for n in names}
        self.drawdowns = self.curves.select("date")
        for n, chain in chains.items():
            self.drawdowns = self.drawdowns.join(chain.select("date", drawdown(chain["twr"]).alias(n)), on="date", how="left")
        self.rolling = {n: rolling_risk(chains[n], risk_free, window) for n in ("strategy", "btc_dca") if n in chains}
        self.yearly = yearly_returns(self.curves, equity)
