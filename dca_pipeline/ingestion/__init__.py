"""Layer 1: market data in (replay bundle or ccxt), validated, quarantined, stored as Parquet."""
