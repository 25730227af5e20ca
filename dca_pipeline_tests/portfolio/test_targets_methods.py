"""build_targets with `portfolio.method`: the seed's infeasible caps are named and repaired, every method honours
the tier shares and caps, and the default path is untouched."""
from datetime import date

import pytest

from dca_pipeline.config import load_settings
from dca_pipeline.portfolio.methods import METHODS
from dca_pipeline.portfolio.targets import build_targets
from dca_pipeline_tests.portfolio.synthetic import synthetic_market

SETTINGS = load_settings()
MONTH = date(2024, 3, 1)
SEED_CONFLICTS = [
    "18 assets × max_weight 5.00% = 90.00% < 95.00% required by tier targets",
    "tier_1: 8 assets × max_weight 5.00% = 40.00% < tier share 52.63% (target 50.00% renormalized over non-empty tiers)",
    "tier_2: 6 assets × max_weight 5.00% = 30.00% < tier share 31.58% (target 30.00% renormalized over non-empty tiers)",
]


def _settings(**portfolio):
    return SETTINGS.model_copy(update={"portfolio": SETTINGS.portfolio.model_copy(update=portfolio)})


def test_default_path_names_seed_conflicts_and_relax_cap_fallback() -> None:
    scores, closes = synthetic_market(MONTH)
    r = build_targets(MONTH, scores, closes, SETTINGS)
    d = r.diagnostics
    assert d["constraint_conflicts"] == "; ".join(SEED_CONFLICTS)
    assert d["fallback"].startswith("relax_cap: targets of non-empty tiers sum to 95%; renormalized")
    assert "tier_1: 8 assets × cap 5.00% < share 52.63%; cap relaxed to 8.2237%" in d["fallback"]
    assert d["method"] == "min_volatility (objective path)"
    assert d["expected_volatility"] > 0 and isinstance(d["binding_constraints"], str)


def test_cash_policy_fallback_is_reported() -> None:
    scores, closes = synthetic_market(MONTH)
    r = build_targets(MONTH, scores, closes, _settings(infeasible_policy="cash", method="min_variance"))
    assert r.diagnostics["fallback"].startswith("cash: ")
    assert "tier_1: share cut from 52.63% to 40.00%; the rest stays in cash" in r.diagnostics["fallback"]
    assert r.weights["weight"].sum() == pytest.approx(0.40 + 0.30 + 0.15 / 0.95, abs=1e-6)
    assert (r.weights["weight"] <= 0.05 + 1e-9).all()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_meets_relaxed_caps_and_tier_shares(method: str) -> None:
    scores, closes = synthetic_market(MONTH)
    r = build_targets(MONTH, scores, closes, _settings(method=method))
    w = r.weights
    shares = {b.tier: b.share for b in r.plan.budgets}
    caps = {b.tier: b.cap for b in r.plan.budgets}
    for tier, share in shares.items():
        rows = w.filter(w["tier"] == tier)
        assert rows["weight"].sum() == pytest.approx(share, abs=1e-6), tier
        assert rows["weight"].max() <= caps[tier] + 1e-8
    assert (w["weight"] >= 0).all()
    assert r.diagnostics["method"] in (method, "min_variance")  # max_sharpe may fall back when nothing beats the CDI
    assert r.diagnostics["constraint_conflicts"].startswith(SEED_CONFLICTS[0])


def test_min_variance_method_equals_objective_path_min_volatility() -> None:
    scores, closes = synthetic_market(MONTH)
    old_run = build_targets(MONTH, scores, closes, SETTINGS)
    new_run = build_targets(MONTH, scores, closes, _settings(method="min_variance"))
    legacy = dict(old_run.weights.select("symbol", "weight").iter_rows())
    new = dict(new_run.weights.select("symbol", "weight").iter_rows())
    assert new.keys() == legacy.keys()
    for s, w in legacy.items():  # the variance is flat at the optimum: weights agree to solver tolerance
        assert new[s] == pytest.approx(w, abs=1e-4)
    vol_old, vol_new = old_run.diagnostics["expected_volatility"], new_run.diagnostics["expected_volatility"]
    assert vol_new == pytest.approx(vol_old, rel=1e-6)


def test_tier_band_lets_tier_shares_move_within_bounds() -> None:
    scores, closes = synthetic_market(MONTH)
    r = build_targets(MONTH, scores, closes, _settings(method="max_sharpe", tier_band="0.2", risk_free_rate="0.0"))
    for b in r.plan.budgets:
        total = r.weights.filter(r.weights["tier"] == b.tier)["weight"].sum()
        assert b.share * 0.8 - 1e-6 <= total <= b.share * 1.2 + 1e-6
    assert r.weights["weight"].sum() == pytest.approx(1.0, abs=1e-6)


def test_turnover_constraint_in_solver_respects_cap() -> None:
    scores, closes = synthetic_market(MONTH)
    first = build_targets(MONTH, scores, closes, _settings(method="min_variance")).weights
    flipped = scores.with_columns(-scores["score"])  # a different month: black_litterman views reverse
    r = build_targets(MONTH, flipped, closes, _settings(method="black_litterman", tier_band="0.1"), previous=first)
    old = dict(first.select("symbol", "weight").iter_rows())
    new = dict(r.weights.select("symbol", "weight").iter_rows())
    one_way = 0.5 * sum(abs(new.get(s, 0) - old.get(s, 0)) for s in set(old) | set(new))
    assert one_way <= 0.20 + 1e-6
    assert r.blend_lambda == 1.0  # the cap held inside the solver, no blending needed
