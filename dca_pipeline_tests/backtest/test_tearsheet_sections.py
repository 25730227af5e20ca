"""Tearsheet sections from plain frames: coverage, survivorship bounds, the risk-free sentence, extra benchmarks."""
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from dca_pipeline.backtest.report import coverage_html, metrics_rows, survivorship_html, write_tearsheet

COVERAGE = pl.DataFrame({"month": [date(2022, 4, 1)], "snapshot_date": [date(2022, 4, 1)], "members": [50], "with_bars": [38],
                         "without_bars": [12], "mcap_with_bars_usd": [300e9], "mcap_without_bars_usd": [100e9],
                         "mcap_covered": [0.75], "missing": ["LUNA, UST"]})
BOUNDS = pl.DataFrame({"policy": ["last_price", "write_off"], "final_value_brl": [1200.0, 900.0], "twr": [0.2, -0.1],
                       "cagr": [0.1, -0.05], "max_drawdown": [-0.5, -0.6], "positions_touched": [2, 2], "symbols": ["FTT/BRL, LUNA/BRL"] * 2})


def test_coverage_and_bounds_render_their_numbers() -> None:
    c = coverage_html(COVERAGE)
    assert "<td>2022-04</td>" in c and "<td>38</td><td>12</td><td>300,000</td><td>100,000</td><td>75%</td><td>LUNA, UST</td>" in c
    b = survivorship_html(BOUNDS)
    assert "<td>write_off</td><td>900.00</td><td>-10.00%</td><td>-60.00%</td><td>2 FTT/BRL, LUNA/BRL</td>" in b
    assert "not computed" in coverage_html(None) and "not computed" in survivorship_html(None)
    assert ("risk_free_annual_avg", "4.42%") in metrics_rows({"risk_free_annual_avg": 0.0442})


def test_write_tearsheet_with_new_sections_and_a_benchmark_without_data(tmp_path: Path) -> None:
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(3)]
    dec = lambda xs: pl.Series([Decimal(str(x)) for x in xs], dtype=pl.Decimal(38, 2))  # noqa: E731
    equity = pl.DataFrame({"date": days, "invested_brl": dec([1, 2, 3]), "value_brl": dec([1, 2, 3.3]), "cash_brl": dec([0, 0, 0]),
                           "daily_return": [None, 0.0, 0.1], "twr": [0.0, 0.0, 0.1]})
    bench = pl.DataFrame({"date": days, "invested_brl": dec([1, 2, 3]), "btc_dca_brl": dec([1, 2, 3]),
                          "top20_dca_brl": pl.Series([None] * 3, dtype=pl.Decimal(38, 2)), "cdi_brl": dec([1, 2, 3])})
    result = SimpleNamespace(equity=equity, benchmarks=bench, metrics={"cagr": 0.1}, regimes=pl.DataFrame(), liquidations=pl.DataFrame(),
                             targets=pl.DataFrame({"month": [days[0]], "symbol": ["X/BRL"], "weight": [1.0]}))
    out = write_tearsheet(result, tmp_path / "t.html", "t", coverage=COVERAGE, survivorship=BOUNDS,
                          risk_free_note="risk-free: CDI (BCB SGS 12), average 12.39% a year over the period")
    text = out.read_text()
    assert "Coverage: members of the snapshot" in text and "LUNA, UST" in text and "write_off" in text
    assert "average 12.39% a year" in text
    assert text.count("data:image/png;base64,") == 6  # value, drawdown, rolling volatility, rolling Sharpe, yearly, coverage
    assert "<th>CDI</th>" in text and "top-20" not in text  # a benchmark without data is neither drawn nor tabulated


def test_month_summary_coverage_lines() -> None:
    from dca_pipeline.monitoring.report import render_coverage

    assert render_coverage(COVERAGE).splitlines()[1] == "  2022-04: 38/50 coins with bars, 75% of the band's market cap; missing LUNA, UST"
