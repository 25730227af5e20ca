"""Walk-forward backtest through the production functions (tiers, scores, targets, orders, fills, valuation)."""
from dca_pipeline.backtest.engine import BacktestResult, run_backtest

__all__ = ["BacktestResult", "run_backtest"]
