"""Return attribution against BTC-only DCA: coin selection, weighting and timing, and costs (fees + slippage).

strategy − BTC DCA (both cost-free) splits exactly into
  selection  = equal-weight DCA of the strategy's monthly universe − BTC DCA   (which coins)
  weighting  = strategy without costs − equal-weight DCA                       (how much of each, when)
and costs    = strategy − strategy without costs                               (fees and slippage paid)
so that strategy − cost-free BTC DCA = selection + weighting + costs. All at the final day, in BRL.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from dca_pipeline.backtest.benchmarks import btc_only, equal_weight
from dca_pipeline.backtest.engine import BacktestResult, run_backtest
from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import Settings
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import ReplaySource


def attribution(settings: Settings, start: date, end: date, result: BacktestResult | None = None) -> dict[str, float]:
    result = result or run_backtest(settings, start, end)
    free = override(override(settings, "fees.taker", "0"), "slippage_bps", "0")
    gross = run_backtest(free, start, end)
    bars, _ = split_valid_ohlcv(ReplaySource().fetch_ohlcv_1d(start, end))
    btc = float(btc_only(bars, start, end, settings.budget_centavos, Decimal(0))["value_brl"][-1])
    ew = float(equal_weight(bars, gross.targets, start, end, settings.budget_centavos, Decimal(0))["value_brl"][-1])
    final, final_gross = float(result.equity["value_brl"][-1]), float(gross.equity["value_brl"][-1])
    return {
        "strategy_brl": final,
        "btc_dca_no_costs_brl": btc,
        "selection_brl": ew - btc,
        "weighting_and_timing_brl": final_gross - ew,
        "costs_brl": final - final_gross,
        "excess_vs_btc_dca_brl": final - btc,
    }


def attribution_table(parts: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"component": list(parts), "brl": list(parts.values())})
