"""Layer 5: daily DCA orders, the paper broker, and the position/cash ledger in DuckDB."""
