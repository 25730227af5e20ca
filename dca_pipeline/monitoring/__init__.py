"""Layer 6: portfolio performance, the backtest report, the daily job and schedule, alert sensors."""
