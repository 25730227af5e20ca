"""Layer 4: target weights from PyPortfolioOpt under max-weight, tier and turnover constraints."""
