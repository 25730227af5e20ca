"""Layer 2: technical indicators and return/risk statistics, vectorized in polars."""
