"""Sharpe and Sortino over the real CDI, by hand on a tiny series; the fixed rate only past the series' end."""
import math
from datetime import date, timedelta

import polars as pl
import pytest

from dca_pipeline.backtest.metrics import performance_metrics, risk_free_daily

# Mon 2024-01-01 .. Mon 2024-01-08; CDI on Mon, Tue, Wed, Fri (Thu a holiday), Mon: 0.05 % per business day
CDI = pl.DataFrame({"date": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5), date(2024, 1, 8)],
                    "cdi_pct": [0.05, 0.05, 0.05, 0.05, 0.05]})


def test_business_days_earn_the_cdi_and_other_days_nothing() -> None:
    rf = risk_free_daily(date(2024, 1, 1), date(2024, 1, 7), CDI, 0.10)
    assert rf.daily["rf"].to_list() == pytest.approx([0.0005, 0.0005, 0.0005, 0.0, 0.0005, 0.0, 0.0])
    assert rf.fallback_days == 0 and rf.cdi_days == 7
    assert rf.annual_average == pytest.approx(1.0005 ** (4 * 365 / 7) - 1)  # 4 business days in 7 calendar days
    assert "average" in rf.note() and "fixed" not in rf.note()


def test_fixed_rate_only_past_the_series_end_and_said_so() -> None:
    rf = risk_free_daily(date(2024, 1, 6), date(2024, 1, 12), CDI, 0.10)
    daily_fixed = 1.10 ** (1 / 365) - 1
    # weekend (0), Monday 01-08 CDI; the series ends 01-08, so 01-09..01-12 take the fixed 10 % a year
    assert rf.daily["rf"].to_list() == pytest.approx([0.0, 0.0, 0.0005, *[daily_fixed] * 4])
    assert rf.fallback_days == 4 and rf.series_end == date(2024, 1, 8)
    assert rf.annual_average == pytest.approx((1.0005 * 1.10 ** (4 / 365)) ** (365 / 7) - 1)
    assert "fixed 10.00% a year on 4 days outside the series (series ends 2024-01-08)" in rf.note()


def _equity(returns: list[float]) -> pl.DataFrame:
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(len(returns))]
    twr, idx = [], 1.0
    for r in returns:
        idx *= 1 + r
        twr.append(idx - 1)
    return pl.DataFrame({"date": days, "invested_brl": [100.0] * len(days), "value_brl": [100 * (1 + t) for t in twr],
                         "contribution_brl": [100.0] + [0.0] * (len(days) - 1), "daily_return": returns, "twr": twr})


def test_sharpe_and_sortino_by_hand_over_the_cdi() -> None:
    r = [0.01, -0.02, 0.03, 0.00, 0.01, -0.01, 0.02]
    m = performance_metrics(_equity(r), 0.10, 0.0, CDI)
    rf = [0.0005, 0.0005, 0.0005, 0.0, 0.0005, 0.0, 0.0]
    x = [a - b for a, b in zip(r, rf)]
    mean = sum(x) / 7
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / 6)
    down = math.sqrt(sum(min(v, 0) ** 2 for v in x) / 7)
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(365), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / down * math.sqrt(365), rel=1e-12)
    assert m["risk_free_annual_avg"] == pytest.approx(1.0005 ** (4 * 365 / 7) - 1)
    assert m["risk_free_fallback_days"] == 0


def test_without_a_series_the_fixed_rate_is_used_every_day() -> None:
    r = [0.01, -0.02, 0.03, 0.00]
    m = performance_metrics(_equity(r), 0.10, 0.0, None)
    d = 1.10 ** (1 / 365) - 1
    x = [a - d for a in r]
    mean = sum(x) / 4
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / 3)
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(365), rel=1e-12)
    assert m["risk_free_fallback_days"] == 4 and m["risk_free_annual_avg"] == pytest.approx(0.10)


def test_note_without_any_cdi_names_the_fixed_rate() -> None:
    rf = risk_free_daily(date(2030, 1, 1), date(2030, 1, 3), CDI, 0.10)
    assert rf.note() == "risk-free: fixed 10.00% a year (portfolio.risk_free_rate; no CDI series for the period)"
