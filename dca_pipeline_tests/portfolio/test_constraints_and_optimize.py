"""The infeasible-cap policy, the PyPortfolioOpt wrapper and the turnover cap."""
from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest

from dca_pipeline.config import load_settings
from dca_pipeline.portfolio.constraints import ConstraintPlan, TierBudget, plan_constraints
from dca_pipeline.portfolio.optimize import apply_turnover_cap, optimize_weights, project_to_caps, turnover
from dca_pipeline_tests.conftest import FIXTURES

SETTINGS = load_settings()


def test_seed_caps_are_relaxed_to_smallest_feasible_plus_headroom() -> None:
    plan = plan_constraints({"tier_1": 8, "tier_2": 6, "tier_3": 4}, SETTINGS.tiers, SETTINGS.portfolio)
    b = {x.tier: x for x in plan.budgets}
    assert b["tier_1"].share == pytest.approx(0.50 / 0.95)
    assert b["tier_1"].relaxed and b["tier_1"].cap == pytest.approx(0.50 / 0.95 / 8 * 1.25)
    assert sum(x.share for x in plan.budgets) == pytest.approx(1.0)
    assert plan.cash_weight == pytest.approx(0.0)
    assert all(x.n_assets * x.cap >= x.share for x in plan.budgets)  # feasible
    assert not b["tier_3"].relaxed and b["tier_3"].cap == pytest.approx(0.05)  # 15.8% / 4 < 5%: feasible
    assert len(plan.notes) == 3  # renormalization + two relaxed tiers


def test_cash_policy_keeps_cap_and_leaves_rest_in_cash() -> None:
    p = SETTINGS.portfolio.model_copy(update={"infeasible_policy": "cash"})
    plan = plan_constraints({"tier_1": 8, "tier_2": 6, "tier_3": 4}, SETTINGS.tiers, p)
    assert all(x.cap == pytest.approx(0.05) for x in plan.budgets)
    # tier_1 cut to 8 × 5%, tier_2 to 6 × 5%; tier_3's renormalized 15/95 fits under 4 × 5%
    assert [x.share for x in plan.budgets] == pytest.approx([0.40, 0.30, 0.15 / 0.95])
    assert plan.cash_weight == pytest.approx(1 - 0.70 - 0.15 / 0.95)


def test_empty_tier_target_is_redistributed() -> None:
    plan = plan_constraints({"tier_1": 8, "tier_2": 6}, SETTINGS.tiers, SETTINGS.portfolio)
    b = {x.tier: x for x in plan.budgets}
    assert set(b) == {"tier_1", "tier_2"}
    assert b["tier_1"].share == pytest.approx(0.5 / 0.8) and b["tier_2"].share == pytest.approx(0.3 / 0.8)


def _prices() -> pl.DataFrame:
    df = pd.read_csv(FIXTURES / "stock_prices.csv", parse_dates=["date"]).set_index("date")
    df = df[["GOOG", "AAPL", "AMZN", "WMT", "XOM", "PFE", "JPM", "BAC"]].dropna().iloc[-500:]
    return pl.from_pandas(df.reset_index()).with_columns(pl.col("date").cast(pl.Date))


def test_unconstrained_wrapper_equals_pypfopt_min_volatility() -> None:
    from pypfopt import EfficientFrontier, risk_models

    prices = _prices()
    symbols = [c for c in prices.columns if c != "date"]
    plan = ConstraintPlan((TierBudget("t", len(symbols), 1.0, 1.0, False),), "relax_cap", 0.0, ())
    ours, info = optimize_weights(prices, {s: "t" for s in symbols}, plan, "min_volatility", 0.0)
    cov = risk_models.CovarianceShrinkage(prices.drop("date").to_pandas(), frequency=365).ledoit_wolf()
    ef = EfficientFrontier(None, cov)
    ref = ef.min_volatility()
    for s in symbols:
        assert ours[s] == pytest.approx(ref[s], abs=1e-4)
    assert info["expected_volatility"] > 0


def test_tier_shares_and_caps_hold_after_optimization() -> None:
    prices = _prices()
    symbols = [c for c in prices.columns if c != "date"]
    tier_of = {s: ("a" if i < 5 else "b") for i, s in enumerate(symbols)}
    plan = ConstraintPlan((TierBudget("a", 5, 0.6, 0.15, True), TierBudget("b", 3, 0.3, 0.12, False)), "cash", 0.1, ())
    for objective in ("min_volatility", "max_sharpe"):
        w, _ = optimize_weights(prices, tier_of, plan, objective, 0.02)
        assert sum(w[s] for s in symbols if tier_of[s] == "a") == pytest.approx(0.6, abs=1e-9)
        assert sum(w[s] for s in symbols if tier_of[s] == "b") == pytest.approx(0.3, abs=1e-9)
        assert max(w[s] for s in symbols if tier_of[s] == "a") <= 0.15 + 1e-12
        assert max(w[s] for s in symbols if tier_of[s] == "b") <= 0.12 + 1e-12


def test_project_to_caps_water_fills() -> None:
    out = project_to_caps({"a": 0.50, "b": 0.30, "c": 0.2}, {"a": "t", "b": "t", "c": "t"}, {"t": 1.0}, {"t": 0.4})
    assert out["a"] == pytest.approx(0.4)
    assert out["b"] == pytest.approx(0.36) and out["c"] == pytest.approx(0.24)  # 0.6 split 3:2


def test_turnover_cap_blends_by_hand() -> None:
    old, new = {"a": 0.5, "b": 0.5}, {"a": 0.5, "c": 0.5}
    assert turnover(new, old) == pytest.approx(0.5)
    blended, lam = apply_turnover_cap(new, old, 0.2)
    assert lam == pytest.approx(0.4)
    assert blended == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2})
    assert turnover(blended, old) == pytest.approx(0.2)
    same, lam = apply_turnover_cap(new, {}, 0.2)
    assert same == new and lam == 1.0
