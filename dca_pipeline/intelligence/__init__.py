"""Layer 3: market-cap tiers and multi-factor scores (point in time, per month)."""
