"""The verdict (issue 12): `python scripts/verdict.py [--survivorship] [--out README_table.md]` = `dca verdict ...`.

Backtests 2022-01-01 → 2025-10-31 (out of sample) and 2018-01-01 → 2021-12-31 with the default configuration,
records its sha256, and prints the markdown table (strategy, BTC-only DCA, top-20 market-cap DCA, equal-weight DCA,
Ibovespa DCA, CDI) and the sentence on Sharpe and drawdown against BTC-only DCA.
"""
import sys

from dca_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["verdict", *sys.argv[1:]]))
