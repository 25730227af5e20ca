"""Lookbacks shared by the intelligence assets and the backtester (kept free of Dagster imports)."""

REGIME_HISTORY_DAYS = 1100  # about three years of market history for the regime HMM
