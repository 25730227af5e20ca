"""Return/risk statistics against hand-computed numbers (arithmetic in the comments) and their edge cases."""
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from dca_pipeline.analytics.statistics import (
    Drawdown,
    average_pairwise_correlation,
    conditional_value_at_risk,
    correlation_breakdown,
    diversification_ratio,
    log_returns,
    max_drawdown,
    risk_metrics,
    rolling_correlation,
    rolling_volatility,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
    value_at_risk,
)

D0 = date(2024, 1, 1)
Z95 = -1.6448536269514722  # Φ⁻¹(0.05)
# ten returns, already sorted: used for the historical VaR / CVaR checks
TEN = [-0.05, -0.03, -0.01, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]


def _days(n: int, start: date = D0) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


# --- returns and volatility ---------------------------------------------------------------------------------


def test_log_and_simple_returns_by_hand() -> None:
    prices = pl.Series("p", [100.0, 110.0, 99.0])
    # 110/100 = 1.1, 99/110 = 0.9
    assert log_returns(prices).to_list()[1:] == pytest.approx([math.log(1.1), math.log(0.9)])
    assert simple_returns(prices).to_list()[1:] == pytest.approx([0.1, -0.1])
    assert log_returns(prices)[0] is None and simple_returns(prices)[0] is None
    assert log_returns(prices).name == "p"


def test_returns_edge_cases() -> None:
    assert log_returns(pl.Series([], dtype=pl.Float64)).len() == 0
    assert simple_returns(pl.Series([5.0])).to_list() == [None]
    # a null price nulls the two returns that touch it
    assert simple_returns(pl.Series([1.0, None, 2.0])).to_list() == [None, None, None]
    assert simple_returns(pl.Series([4, 5])).to_list() == [None, pytest.approx(0.25)]  # integers are fine


def test_rolling_volatility_by_hand() -> None:
    r = pl.Series([0.01, 0.03, -0.01, 0.05])
    vol = rolling_volatility(r, 4)
    # mean 0.02; deviations −.01, .01, −.03, .03 → Σ² = 20e-4; /3 → std = √(6.6667e-4) = 0.0258199
    assert vol.to_list()[:3] == [None, None, None]
    assert vol[3] == pytest.approx(math.sqrt(20e-4 / 3) * math.sqrt(365))
    # window 2 on (0.01, 0.03): std = 0.02/√2 = 0.0141421
    assert rolling_volatility(r, 2)[1] == pytest.approx(0.02 / math.sqrt(2) * math.sqrt(365))
    assert rolling_volatility(r, 2, periods_per_year=1)[1] == pytest.approx(0.02 / math.sqrt(2))


def test_rolling_volatility_edges() -> None:
    assert rolling_volatility(pl.Series([], dtype=pl.Float64), 3).len() == 0
    assert rolling_volatility(pl.Series([0.01]), 3).to_list() == [None]
    assert rolling_volatility(pl.Series([0.01] * 4), 3).to_list()[2:] == [0.0, 0.0]  # constant → zero vol
    # a NaN is missing data: windows containing it are null, later ones are not
    vol = rolling_volatility(pl.Series([0.01, float("nan"), 0.01, 0.03, 0.05]), 2)
    assert vol.to_list()[:3] == [None, None, None]
    assert vol[3] == pytest.approx(0.02 / math.sqrt(2) * math.sqrt(365))
    with pytest.raises(ValueError):
        rolling_volatility(pl.Series([0.01, 0.02]), 1)


# --- Sharpe / Sortino ---------------------------------------------------------------------------------------


def test_sharpe_by_hand() -> None:
    r = [0.01, 0.03, -0.01, 0.05]
    # rf = 0: mean 0.02, std 0.0258199 (as above) → 0.02/0.0258199 = √0.6; × √365 → √219 = 14.79865
    assert sharpe_ratio(r, risk_free_rate=0.0) == pytest.approx(math.sqrt(219))
    # rf = 3.65%/yr → 0.0001/day: mean excess 0.0199, same std → √219 × 0.995 = 14.72466
    assert sharpe_ratio(pl.Series(r), risk_free_rate=0.0365) == pytest.approx(math.sqrt(219) * 0.995)
    # periods_per_year scales by √periods: 252 days → 0.7745967 × √252
    assert sharpe_ratio(np.array(r), 0.0, periods_per_year=252) == pytest.approx(math.sqrt(0.6 * 252))


def test_sortino_by_hand() -> None:
    r = [0.01, 0.03, -0.01, 0.05]
    # rf = 0: shortfalls min(r, 0) = 0, 0, −0.01, 0 → mean square 1e-4/4 = 2.5e-5 → DD = 0.005
    # Sortino = 0.02 / 0.005 × √365 = 4 × 19.104973 = 76.41989
    assert sortino_ratio(r, risk_free_rate=0.0) == pytest.approx(4 * math.sqrt(365))
    assert sortino_ratio(r, risk_free_rate=0.0) > sharpe_ratio(r, risk_free_rate=0.0)  # upside isn't penalized


def test_sharpe_and_sortino_on_constant_returns() -> None:
    # constant 0.1%/day: zero dispersion, positive excess (0.001 − 0.02/365 > 0) → +inf, not an error
    assert sharpe_ratio([0.001] * 10) == math.inf
    assert sortino_ratio([0.001] * 10) == math.inf  # no period below target
    assert sharpe_ratio([-0.001] * 10) == -math.inf
    # ... but Sortino has downside here: every shortfall is 0.001 → DD = 0.001 → −0.001/0.001 × √365
    assert sortino_ratio([-0.001] * 10, risk_free_rate=0.0) == pytest.approx(-math.sqrt(365))
    # exactly the risk-free rate: 0/0 → NaN
    assert math.isnan(sharpe_ratio([0.02 / 365] * 10))
    assert math.isnan(sharpe_ratio([0.0] * 10, risk_free_rate=0.0))
    assert math.isnan(sortino_ratio([0.0] * 10, risk_free_rate=0.0))
    # constant returns built from a geometric price path carry ~1e-17 float noise: still +inf, not 1e15
    prices = pl.Series([100 * 1.01**k for k in range(30)])
    assert sharpe_ratio(log_returns(prices)) == math.inf


def test_sharpe_and_sortino_edges() -> None:
    for f in (sharpe_ratio, sortino_ratio):
        assert math.isnan(f([]))
        assert math.isnan(f(pl.Series([], dtype=pl.Float64)))
        assert math.isnan(f([0.01]))  # one observation: no dispersion estimate
        assert math.isnan(f([None, float("nan")]))
        # nulls/NaNs are dropped: same answer as the clean sample
        dirty = pl.Series([None, 0.01, float("nan"), 0.03, -0.01, 0.05])
        assert f(dirty, 0.0) == pytest.approx(f([0.01, 0.03, -0.01, 0.05], 0.0))


# --- drawdown -----------------------------------------------------------------------------------------------


def test_max_drawdown_known_dates() -> None:
    frame = pl.DataFrame({"date": _days(5), "close": [100.0, 120.0, 60.0, 90.0, 130.0]})
    dd = max_drawdown(frame)
    # running max 100,120,120,120,130; 60/120 − 1 = −0.5 on day 3; peak 120 on day 2; ≥120 again on day 5
    assert dd == Drawdown(-0.5, date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5), 3)
    assert dd.drawdown_length_days == 1  # day 2 → day 3
    # unsorted input is sorted by date first
    assert max_drawdown(frame.reverse()) == dd


def test_max_drawdown_series_and_value_column() -> None:
    dd = max_drawdown(pl.Series([100.0, 120.0, 60.0, 90.0, 130.0]))
    assert (dd.depth, dd.peak_date, dd.trough_date, dd.recovery_date, dd.duration_days) == (-0.5, 1, 2, 4, 3)
    # the deepest of two: 90/100 − 1 = −0.1 then 55/110 − 1 = −0.5 (peak at index 2, never recovered)
    dd = max_drawdown(pl.DataFrame({"date": _days(5), "value": [100.0, 90.0, 110.0, 55.0, 100.0]}))
    assert dd.depth == pytest.approx(-0.5)
    assert (dd.peak_date, dd.trough_date) == (date(2024, 1, 3), date(2024, 1, 4))
    assert dd.recovery_date is None and dd.duration_days is None
    assert dd.drawdown_length_days == 1


def test_max_drawdown_plateau_peak_and_exact_recovery() -> None:
    # the high is held on days 1–2: the drawdown starts from the last day at the high; back to exactly 120 recovers
    dd = max_drawdown(pl.Series([100.0, 120.0, 120.0, 60.0, 120.0]))
    assert (dd.peak_date, dd.trough_date, dd.recovery_date, dd.duration_days) == (2, 3, 4, 2)


def test_max_drawdown_edges() -> None:
    none = Drawdown(0.0, None, None, None, None)
    assert max_drawdown(pl.Series([], dtype=pl.Float64)) == none
    assert max_drawdown(pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64})) == none
    assert max_drawdown(pl.DataFrame({"date": [D0], "close": [10.0]})) == none
    assert max_drawdown(pl.Series([7.0] * 10)) == none  # constant
    assert max_drawdown(pl.Series([1.0, 2.0, 3.0])) == none  # never falls
    assert max_drawdown(pl.Series([None, float("nan")], dtype=pl.Float64)) == none
    assert none.drawdown_length_days is None
    # nulls/NaNs are skipped; Series labels stay the original positions
    dd = max_drawdown(pl.Series([100.0, None, 120.0, 60.0, float("nan"), 130.0]))
    assert (dd.depth, dd.peak_date, dd.trough_date, dd.recovery_date, dd.duration_days) == (-0.5, 2, 3, 5, 3)
    frame = pl.DataFrame({"date": _days(4), "close": [100.0, None, 80.0, 100.0]})
    dd = max_drawdown(frame)  # 80/100 − 1 = −0.2, the null day skipped
    assert dd.depth == pytest.approx(-0.2)
    assert (dd.peak_date, dd.trough_date, dd.recovery_date, dd.duration_days) == (D0, date(2024, 1, 3), date(2024, 1, 4), 3)
    with pytest.raises(ValueError, match="close"):
        max_drawdown(pl.DataFrame({"date": [D0], "price": [1.0]}))


# --- value at risk ------------------------------------------------------------------------------------------


def test_historical_var_and_cvar_by_hand() -> None:
    # 90%: position (n − 1)·0.1 = 0.9 between −0.05 and −0.03 → −0.05 + 0.9·0.02 = −0.032 → VaR 0.032
    assert value_at_risk(TEN, 0.90) == pytest.approx(0.032)
    # tail ≤ −0.032 is {−0.05} → CVaR 0.05
    assert conditional_value_at_risk(TEN, 0.90) == pytest.approx(0.05)
    # 80%: position 1.8 between −0.03 and −0.01 → −0.03 + 0.8·0.02 = −0.014; tail {−0.05, −0.03} → mean −0.04
    assert value_at_risk(TEN, 0.80) == pytest.approx(0.014)
    assert conditional_value_at_risk(TEN, 0.80) == pytest.approx(0.04)
    # the empirical quantile is numpy's default (linear) on any sample
    sample = np.random.default_rng(3).normal(0.001, 0.04, 500)
    assert value_at_risk(sample, 0.95) == pytest.approx(-np.quantile(sample, 0.05))
    assert conditional_value_at_risk(sample, 0.95) >= value_at_risk(sample, 0.95)


def test_parametric_var_by_hand() -> None:
    r = [-0.02, 0.0, 0.02, 0.04]
    # μ = 0.01; deviations ∓0.03, ∓0.01 → Σ² = 20e-4, σ = √(20e-4/3) = 0.0258199
    # VaR = −(μ + z·σ) = −(0.01 − 1.6448536 · 0.0258199) = 0.0424700 − 0.01 = 0.0324700
    sigma = math.sqrt(20e-4 / 3)
    assert value_at_risk(r, 0.95, "parametric") == pytest.approx(-(0.01 + Z95 * sigma))
    assert value_at_risk(r, 0.95, "parametric") == pytest.approx(0.0324700, abs=1e-7)


def test_cornish_fisher_equals_parametric_without_skew_or_excess_kurtosis() -> None:
    # deviations (−a, 0, 0, 0, 0, a): m2 = 2a²/6, m3 = 0 → S = 0; m4 = 2a⁴/6 → m4/m2² = (1/3)/(1/9) = 3 → K = 0
    r = [0.001 + d for d in (-0.03, 0.0, 0.0, 0.0, 0.0, 0.03)]
    for c in (0.95, 0.99):
        assert value_at_risk(r, c, "cornish_fisher") == pytest.approx(value_at_risk(r, c, "parametric"), rel=1e-10)


def test_cornish_fisher_by_hand() -> None:
    r = [-0.1, 0.0, 0.0, 0.0]
    # μ = −0.025; deviations −0.075, 0.025 ×3 → Σ² = 0.005625 + 3·0.000625 = 0.0075; σ = √(0.0075/3) = 0.05
    # a two-point law with p = 1/4 on the low side: S = −(1 − 2p)/√(p(1−p)) = −0.5/√(3/16) = −2/√3 = −1.1547
    # excess K = (1 − 6p(1−p)) / (p(1−p)) = (1 − 18/16) / (3/16) = −2/3
    mu, sigma, s, k, z = -0.025, 0.05, -2 / math.sqrt(3), -2 / 3, Z95
    z_cf = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    # z² = 2.705543, z³ = −4.450226
    # (z² − 1)·S/6 = 1.705543 · (−1.154701)/6 = −0.328232
    # (z³ − 3z)·K/24 = 0.484335 · (−2/3)/24 = −0.013454
    # −(2z³ − 5z)·S²/36 = −(−0.676184) · (4/3)/36 = +0.025044
    # z_cf = −1.644854 − 0.328232 − 0.013454 + 0.025044 = −1.961496 → VaR = 0.025 + 1.961496·0.05 = 0.123075
    assert z_cf == pytest.approx(-1.961496, abs=1e-5)
    assert value_at_risk(r, 0.95, "cornish_fisher") == pytest.approx(0.123075, abs=1e-5)
    assert value_at_risk(r, 0.95, "cornish_fisher") == pytest.approx(-(mu + z_cf * sigma))
    # left skew makes the modified VaR larger than the normal one (0.025 + 1.6449·0.05 = 0.1072)
    assert value_at_risk(r, 0.95, "cornish_fisher") > value_at_risk(r, 0.95, "parametric") == pytest.approx(0.10724, abs=1e-5)


def test_var_edges() -> None:
    for method in ("historical", "parametric", "cornish_fisher"):
        assert math.isnan(value_at_risk([], method=method))
        assert math.isnan(value_at_risk(pl.Series([None, float("nan")], dtype=pl.Float64), method=method))
        # constant returns: no dispersion, the loss is −μ for every method (and 0.0, not −0.0)
        assert value_at_risk([0.01] * 5, method=method) == pytest.approx(-0.01)
        assert math.copysign(1.0, value_at_risk([0.0] * 5, method=method)) == 1.0
    # one observation: the historical quantile is that observation; the normal fit needs two
    assert value_at_risk([-0.03]) == pytest.approx(0.03)
    assert math.isnan(value_at_risk([-0.03], method="parametric"))
    assert math.isnan(value_at_risk([-0.03], method="cornish_fisher"))
    # NaN/null are dropped
    assert value_at_risk([None, *TEN, float("nan")], 0.9) == pytest.approx(0.032)
    assert conditional_value_at_risk(pl.Series([None, *TEN, float("nan")]), 0.9) == pytest.approx(0.05)
    assert math.isnan(conditional_value_at_risk([]))
    assert conditional_value_at_risk([-0.03]) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="historical, parametric, cornish_fisher"):
        value_at_risk(TEN, method="monte_carlo")
    with pytest.raises(ValueError, match="cornish_fisher"):
        value_at_risk([], method="garch")  # an unknown method is an error even on empty input
    with pytest.raises(ValueError):
        value_at_risk(TEN, confidence=1.0)


# --- correlation --------------------------------------------------------------------------------------------


def _wide(n: int = 60, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.03, size=(n, 3))
    x[:, 1] += 0.8 * x[:, 0]  # B follows A
    return pl.DataFrame({"date": _days(n), "C": x[:, 2], "A": x[:, 0], "B": x[:, 1]}), x


def test_rolling_correlation_matches_numpy_on_a_window() -> None:
    wide, x = _wide()
    out = rolling_correlation(wide, window=20)
    assert out.columns == ["date", "symbol_a", "symbol_b", "correlation"]
    # 60 rows, window 20 → 41 full-window dates × 3 pairs (A-B, A-C, B-C)
    assert out.height == 41 * 3
    assert out["date"].min() == date(2024, 1, 20)
    assert (out["symbol_a"] < out["symbol_b"]).all()
    for end in (19, 37, 59):  # windows rows end−19..end
        got = out.filter(pl.col("date") == D0 + timedelta(days=end))
        block = x[end - 19 : end + 1]
        expected = {("A", "B"): (0, 1), ("A", "C"): (0, 2), ("B", "C"): (1, 2)}
        for (a, b), (i, j) in expected.items():
            corr = got.filter(symbol_a=a, symbol_b=b)["correlation"].item()
            assert corr == pytest.approx(np.corrcoef(block[:, i], block[:, j])[0, 1], abs=1e-12)


def test_rolling_correlation_pairwise_complete() -> None:
    wide, x = _wide(30)
    wide = wide.with_columns(pl.when(pl.col("date") == date(2024, 1, 25)).then(None).otherwise(pl.col("A")).alias("A"))
    strict = rolling_correlation(wide, window=20)
    # default min_periods = window: A's pairs are null while the gap is in the window, B-C is unaffected
    ab = strict.filter(symbol_a="A", symbol_b="B")
    assert ab.filter(pl.col("date") < date(2024, 1, 25))["correlation"].null_count() == 0
    assert ab.filter(pl.col("date") >= date(2024, 1, 25))["correlation"].null_count() == 6
    assert strict.filter(symbol_a="B", symbol_b="C")["correlation"].null_count() == 0
    # with min_periods 15, the last window (rows 10..29) uses the 19 rows where both A and B exist
    loose = rolling_correlation(wide, window=20, min_periods=15)
    rows = [i for i in range(10, 30) if i != 24]
    last = loose.filter(pl.col("date") == date(2024, 1, 30), symbol_a="A", symbol_b="B")["correlation"].item()
    assert last == pytest.approx(np.corrcoef(x[rows, 0], x[rows, 1])[0, 1], abs=1e-12)


def test_rolling_correlation_edges() -> None:
    wide, _ = _wide(10)
    empty_schema = ["date", "symbol_a", "symbol_b", "correlation"]
    assert rolling_correlation(wide, window=20).is_empty()  # no full window yet
    assert rolling_correlation(wide.select("date", "A"), window=5).is_empty()  # no pair
    assert rolling_correlation(wide.clear(), window=5).columns == empty_schema
    # a constant (e.g. stablecoin) column has no correlation: null, not NaN or an error
    flat = wide.with_columns(C=pl.lit(0.0))
    out = rolling_correlation(flat, window=5)
    assert out.filter(symbol_b="C")["correlation"].null_count() == 2 * 6
    assert out.filter(symbol_a="A", symbol_b="B")["correlation"].null_count() == 0
    with pytest.raises(ValueError):
        rolling_correlation(wide, window=1)


def test_average_pairwise_correlation() -> None:
    wide, _ = _wide()
    pairs = rolling_correlation(wide, window=20)
    avg = average_pairwise_correlation(wide, window=20)
    assert avg.columns == ["date", "avg_correlation"] and avg.height == 41
    day = date(2024, 2, 10)
    assert avg.filter(date=day)["avg_correlation"].item() == pytest.approx(
        pairs.filter(date=day)["correlation"].mean()  # mean of the three pairs
    )
    assert average_pairwise_correlation(wide.select("date", "A"), window=20).is_empty()


def _avg_corr_with_jump(jump_at: int | None) -> pl.DataFrame:
    values = [0.30 if i % 2 == 0 else 0.32 for i in range(60)]
    if jump_at is not None:
        values[jump_at] = 0.90
    return pl.DataFrame({"date": _days(60), "avg_correlation": values})


def test_correlation_breakdown_flags_planted_jump_only() -> None:
    out = correlation_breakdown(_avg_corr_with_jump(40), band_window=20, n_std=2.0)
    assert out.columns == ["date", "avg_correlation", "band_upper", "breakdown"]
    # prior 20 values alternate 0.30/0.32: mean 0.31; Σ(±0.01)² = 20e-4, /19 → std 0.0102598
    # band = 0.31 + 2 · 0.0102598 = 0.3305196 < 0.90 → flagged
    assert out["band_upper"][40] == pytest.approx(0.31 + 2 * math.sqrt(20e-4 / 19))
    assert out["breakdown"].to_list()[:41] == [False] * 40 + [True]
    # the band needs 20 PRIOR values: null through row 19 (only 19 prior values), defined from row 20
    assert out["band_upper"][:20].null_count() == 20 and out["band_upper"][20] is not None
    # no look-ahead: the band up to and including the jump day is the same with or without the jump
    clean = correlation_breakdown(_avg_corr_with_jump(None), band_window=20)
    assert out["band_upper"][:41].to_list() == pytest.approx(clean["band_upper"][:41].to_list(), nan_ok=True)
    assert not clean["breakdown"].any()


def test_correlation_breakdown_edges() -> None:
    empty = pl.DataFrame(schema={"date": pl.Date, "avg_correlation": pl.Float64})
    assert correlation_breakdown(empty).columns == ["date", "avg_correlation", "band_upper", "breakdown"]
    short = _avg_corr_with_jump(3).head(5)
    assert not correlation_breakdown(short, band_window=20)["breakdown"].any()  # band undefined → False
    with_null = _avg_corr_with_jump(None).with_columns(avg_correlation=pl.lit(None, pl.Float64))
    assert not correlation_breakdown(with_null, band_window=5)["breakdown"].any()


# --- diversification ----------------------------------------------------------------------------------------


def test_diversification_ratio_by_hand() -> None:
    # σ = (0.2, 0.4), ρ = 0.5 → cov12 = 0.5·0.2·0.4 = 0.04; Σ = [[0.04, 0.04], [0.04, 0.16]]
    cov = np.array([[0.04, 0.04], [0.04, 0.16]])
    # w = (½, ½): wᵀσ = 0.3; wᵀΣw = ¼·0.04 + ¼·0.16 + 2·¼·0.04 = 0.07 → DR = 0.3/√0.07 = 1.1338934
    assert diversification_ratio([0.5, 0.5], cov) == pytest.approx(0.3 / math.sqrt(0.07))
    assert diversification_ratio({"a": 0.5, "b": 0.5}, cov) == pytest.approx(1.1338934, abs=1e-7)
    # labels: a pandas cov aligns dict weights by name, whatever the dict order
    frame = pd.DataFrame(cov, index=["a", "b"], columns=["a", "b"])
    # w = (0.25, 0.75): wᵀσ = 0.05 + 0.3 = 0.35; wᵀΣw = 0.0625·0.04 + 0.5625·0.16 + 2·0.1875·0.04 = 0.1075
    assert diversification_ratio({"b": 0.75, "a": 0.25}, frame) == pytest.approx(0.35 / math.sqrt(0.1075))
    # perfectly correlated assets do not diversify: DR = 1
    assert diversification_ratio([0.5, 0.5], np.array([[0.04, 0.08], [0.08, 0.16]])) == pytest.approx(1.0)
    assert diversification_ratio({"a": 1.0}, frame) == pytest.approx(1.0)  # b absent → weight 0


def test_diversification_ratio_edges() -> None:
    assert math.isnan(diversification_ratio([], np.empty((0, 0))))
    assert math.isnan(diversification_ratio([0.0, 0.0], np.eye(2)))  # zero variance
    assert math.isnan(diversification_ratio([1.0], np.array([[np.nan]])))
    with pytest.raises(ValueError, match="shape"):
        diversification_ratio([0.5, 0.5], np.eye(3))
    with pytest.raises(ValueError, match="zzz"):
        diversification_ratio({"zzz": 1.0}, pd.DataFrame(np.eye(1), columns=["a"], index=["a"]))


# --- risk table ---------------------------------------------------------------------------------------------


def _ohlcv(symbol: str, closes: list[float | None], start: date = D0) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [symbol] * len(closes), "date": _days(len(closes), start), "close": closes},
        schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64},
    )


def test_risk_metrics_by_hand_on_the_window() -> None:
    # window of 2 days before the last date: closes 50, 55, 60.5 → two log returns of ln 1.1; the crash from 100
    # to 50 lies outside the window and must not show in the drawdown
    frame = _ohlcv("X/BRL", [100.0, 50.0, 50.0, 55.0, 60.5])
    row = risk_metrics(frame, as_of_window=2).row(0, named=True)
    assert row["date"] == date(2024, 1, 5)
    assert row["max_drawdown"] == 0.0
    assert row["sharpe"] == math.inf  # constant ln 1.1 > rf/365 with zero std
    assert row["var_95"] == pytest.approx(-math.log(1.1))  # both returns are gains: negative loss
    assert row["cvar_95"] == pytest.approx(-math.log(1.1))
    assert row["vol_30"] is None and row["vol_90"] is None  # too little history
    # with the full history, the 100 → 50 halving is in
    assert risk_metrics(frame)["max_drawdown"].item() == pytest.approx(-0.5)


def test_risk_metrics_matches_the_functions() -> None:
    rng = np.random.default_rng(7)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.04, 500))))
    frame = pl.concat([_ohlcv("B/BRL", closes), _ohlcv("A/BRL", closes[:200])])
    out = risk_metrics(frame, as_of_window=365, risk_free_rate=0.02)
    assert out.columns == [
        "symbol", "date", "vol_30", "vol_90", "sharpe", "sortino", "max_drawdown", "var_95", "var_99", "cvar_95"
    ]
    assert out["symbol"].to_list() == ["A/BRL", "B/BRL"]
    b = out.row(1, named=True)
    window = pl.Series(closes[-366:])  # base close + 365 days
    r = log_returns(window).slice(1)
    assert r.len() == 365
    assert b["date"] == D0 + timedelta(days=499)
    assert b["vol_30"] == pytest.approx(float(np.std(r.to_numpy()[-30:], ddof=1)) * math.sqrt(365))
    assert b["vol_90"] == pytest.approx(float(np.std(r.to_numpy()[-90:], ddof=1)) * math.sqrt(365))
    assert b["sharpe"] == pytest.approx(sharpe_ratio(r, 0.02))
    assert b["sortino"] == pytest.approx(sortino_ratio(r, 0.02))
    assert b["max_drawdown"] == pytest.approx(max_drawdown(window).depth)
    assert b["var_95"] == pytest.approx(-np.quantile(r.to_numpy(), 0.05))
    assert b["var_99"] == pytest.approx(value_at_risk(r, 0.99))
    assert b["cvar_95"] == pytest.approx(conditional_value_at_risk(r, 0.95))
    assert b["var_99"] > b["var_95"] > 0 and b["cvar_95"] >= b["var_95"]
    # A has only 200 days: everything is computed on what exists
    a = out.row(0, named=True)
    assert a["vol_90"] is not None and a["date"] == D0 + timedelta(days=199)


def test_risk_metrics_edges() -> None:
    empty = risk_metrics(pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64}))
    assert empty.is_empty() and empty.width == 10
    # one row: no returns → undefined values are null (not NaN), drawdown 0
    one = risk_metrics(_ohlcv("X", [10.0])).row(0, named=True)
    assert one["sharpe"] is None and one["var_95"] is None and one["max_drawdown"] == 0.0
    # constant prices: zero returns, so zero risk; Sharpe −inf (the excess is −rf/365 with no dispersion)
    flat = risk_metrics(_ohlcv("USDT", [5.0] * 40)).row(0, named=True)
    assert (flat["vol_30"], flat["var_95"], flat["cvar_95"], flat["max_drawdown"]) == (0.0, 0.0, 0.0, 0.0)
    assert flat["sharpe"] == -math.inf
    # null/NaN/non-positive closes are ignored rather than poisoning the returns
    dirty = _ohlcv("X", [100.0, None, 50.0, float("nan"), 0.0, 100.0])
    row = risk_metrics(dirty).row(0, named=True)
    assert row["max_drawdown"] == pytest.approx(-0.5)
    assert row["date"] == date(2024, 1, 6)
    assert row["var_95"] == pytest.approx(-np.quantile([math.log(0.5), math.log(2.0)], 0.05))


def test_pairwise_correlation_equals_the_last_rolling_window() -> None:
    from dca_pipeline.analytics.statistics import pairwise_correlation, rolling_correlation

    rng = np.random.default_rng(7)
    n = 60
    base = rng.normal(0, 1, n)
    wide = pl.DataFrame(
        {
            "date": pl.date_range(date(2021, 1, 1), date(2021, 1, 1) + timedelta(days=n - 1), eager=True),
            "A": base + rng.normal(0, 0.5, n),
            "B": base + rng.normal(0, 0.5, n),
            "C": [None] * 20 + list(rng.normal(0, 1, n - 20)),
        }
    )
    rolled = rolling_correlation(wide, window=n, min_periods=30).drop("date").sort("symbol_a", "symbol_b")
    direct = pairwise_correlation(wide, min_periods=30).sort("symbol_a", "symbol_b")
    assert direct["symbol_a"].to_list() == ["A", "A", "B"] and direct["symbol_b"].to_list() == ["B", "C", "C"]
    np.testing.assert_allclose(direct["correlation"].to_numpy(), rolled["correlation"].to_numpy(), rtol=1e-10)
    assert direct["correlation"][0] == pytest.approx(np.corrcoef(wide["A"], wide["B"])[0, 1])
