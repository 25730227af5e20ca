"""Pre-solve conflict detection, the repair fallback and the minimum-turnover LP, against hand-computed cases."""
import pandas as pd
import pytest

from dca_pipeline.portfolio.methods import (
    BlackLittermanViews,
    black_litterman_returns,
    min_turnover_needed,
    optimize,
)
from dca_pipeline.portfolio.problem import PortfolioConstraints, find_conflicts, repair

SYMBOLS = [f"S{i}" for i in range(7)]


def test_min_assets_above_eligible_is_named_and_dropped() -> None:
    c = PortfolioConstraints(caps={s: 0.5 for s in SYMBOLS}, min_assets=10)
    assert find_conflicts(c) == ["min_assets 10 > 7 eligible"]
    fixed, notes = repair(c, "relax_cap", 0.25)
    assert fixed.min_assets == 1 and notes == ["min_assets 10 dropped: only 7 eligible, all of them are candidates"]
    assert find_conflicts(fixed) == []


def test_cap_mass_below_invested_is_named_then_relaxed_or_cashed() -> None:
    c = PortfolioConstraints(caps={s: 0.10 for s in SYMBOLS})
    assert find_conflicts(c) == ["7 assets × max_weight 10.00% = 70.00% < 100.00% required"]
    relaxed, _ = repair(c, "relax_cap", 0.25)
    assert relaxed.caps["S0"] == pytest.approx(1 / 7 * 1.25) and find_conflicts(relaxed) == []
    cashed, notes = repair(c, "cash", 0.25)
    assert cashed.invested == pytest.approx(0.70) and cashed.caps == c.caps
    assert notes == ["invested share cut from 100.00% to 70.00%; the rest stays in cash"]


def test_tier_minimum_beyond_its_caps() -> None:
    tier_of = {s: ("a" if i < 2 else "b") for i, s in enumerate(SYMBOLS)}
    c = PortfolioConstraints({s: 0.2 for s in SYMBOLS}, tier_of, {"a": (0.5, 0.6), "b": (0.4, 0.5)})
    assert find_conflicts(c) == [
        "tier a: 2 assets × max_weight 20.00% = 40.00% < 50.00% required by the tier minimum",
        "tier maximums and caps allow at most 90.00% < 100.00% required",  # a: 40%, b: its 50% maximum
    ]
    relaxed, _ = repair(c, "relax_cap", 0.0)
    assert relaxed.caps["S0"] == pytest.approx(0.25) and relaxed.caps["S2"] == 0.2
    assert find_conflicts(relaxed) == []  # a can now hold 50%, b 50%
    cashed, _ = repair(c, "cash", 0.0)
    assert cashed.tier_bounds["a"] == pytest.approx((0.4, 0.6)) and cashed.invested == pytest.approx(0.9)
    assert find_conflicts(cashed) == []


def test_min_turnover_needed_by_hand() -> None:
    # previous all in S0 (100%), cap 40% per asset: at least 60% must move
    c = PortfolioConstraints({s: 0.4 for s in SYMBOLS}, previous={"S0": 1.0}, turnover_cap=0.2)
    assert min_turnover_needed(c) == pytest.approx(0.6, abs=1e-6)
    cov = pd.DataFrame([[0.04 if i == j else 0.0 for j in range(7)] for i in range(7)], index=SYMBOLS, columns=SYMBOLS)
    r = optimize("min_variance", None, cov, c)
    assert "turnover cap 20.00% < 60.00% needed" in r.conflicts[0]
    assert "turnover constraint dropped" in r.fallback
    assert r.weights == pytest.approx({s: 1 / 7 for s in SYMBOLS}, abs=1e-6)  # uncorrelated, equal σ: equal weights


def test_black_litterman_views_follow_scores() -> None:
    cov = pd.DataFrame([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]], index=list("ABC"), columns=list("ABC"))
    views = BlackLittermanViews()
    prior = views.risk_aversion * cov.to_numpy().mean(axis=1) + 0.1  # δ Σ w_eq + r_f
    same, _ = black_litterman_returns(cov, {"A": 1.0, "B": 1.0, "C": 1.0}, views, 0.1)
    assert same.to_numpy() == pytest.approx(prior)  # no dispersion: views equal the prior
    tilted, _ = black_litterman_returns(cov, {"A": -1.0, "B": 0.0, "C": 1.0}, views, 0.1)
    excess = tilted.to_numpy() - prior
    assert excess[0] < 0 < excess[2]
