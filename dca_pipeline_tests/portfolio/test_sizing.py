"""Sizing overlays against closed forms on small hand-made covariances."""
import math
from datetime import date

import pandas as pd
import pytest

from dca_pipeline.config import SizingSettings, load_settings
from dca_pipeline.portfolio.sizing import (
    apply_sizing,
    fractional_kelly,
    kelly_exposure,
    portfolio_volatility,
    regime_scaling,
    risk_budgeting,
    risk_contributions,
    var_caps,
    volatility_scaling,
)
from dca_pipeline.portfolio.targets import build_targets
from dca_pipeline_tests.portfolio.synthetic import synthetic_market

COV = pd.DataFrame([[0.04, 0.0], [0.0, 0.16]], index=["A", "B"], columns=["A", "B"])  # σ 20% and 40%, uncorrelated
MU = pd.Series({"A": 0.20, "B": 0.30})


def test_volatility_scaling_hits_the_target() -> None:
    w, f = volatility_scaling({"A": 0.5, "B": 0.5}, COV, 0.10)
    vol = math.sqrt(0.25 * 0.04 + 0.25 * 0.16)  # 22.36%
    assert f == pytest.approx(0.10 / vol)
    assert portfolio_volatility(w, COV) == pytest.approx(0.10)
    same, f = volatility_scaling({"A": 0.5, "B": 0.5}, COV, 0.50)  # already below: untouched
    assert f == 1.0 and same == {"A": 0.5, "B": 0.5}


def test_risk_budgeting_closed_form_for_uncorrelated_assets() -> None:
    # RC_i = w_i² σ_i² ∝ b_i  ⇒  w_i ∝ √b_i / σ_i
    w = risk_budgeting(COV, {"A": 0.8, "B": 0.2})
    raw = {"A": math.sqrt(0.8) / 0.2, "B": math.sqrt(0.2) / 0.4}
    assert w == pytest.approx({s: v / sum(raw.values()) for s, v in raw.items()}, rel=1e-8)
    assert risk_contributions(w, COV) == pytest.approx({"A": 0.8, "B": 0.2}, rel=1e-8)


def test_fractional_kelly_exposure() -> None:
    one = pd.DataFrame([[0.09]], index=["A"], columns=["A"])
    assert kelly_exposure({"A": 1.0}, MU, one, 0.05, 0.5) == pytest.approx(0.5 * 0.15 / 0.09)  # 0.8333
    w, f = fractional_kelly({"A": 1.0}, MU, one, 0.05, 0.5)
    assert f == pytest.approx(0.8333333) and w["A"] == pytest.approx(0.8333333)
    assert kelly_exposure({"A": 1.0}, MU, one, 0.25, 0.5) == 0.0  # negative edge: no exposure


def test_var_caps_limit_each_position() -> None:
    cov = pd.DataFrame([[0.365]], index=["A"], columns=["A"])  # daily σ = √0.001
    w, cut = var_caps({"A": 0.5}, cov, max_asset_var=0.01, confidence=0.95)
    assert w["A"] == pytest.approx(0.01 / (1.6448536269514722 * math.sqrt(0.001)))  # 19.2%
    assert cut == ["A"]
    same, cut = var_caps({"A": 0.1}, cov, max_asset_var=0.01)
    assert same == {"A": 0.1} and cut == []


def test_crisis_regime_moves_to_cash_and_low_volatility() -> None:
    exposure, tilt = {"bull": 1.0, "crisis": 0.5}, {"crisis": 1.0}
    w, f = regime_scaling({"A": 0.5, "B": 0.5}, COV, "crisis", exposure, tilt)
    # median σ 0.3: A × 1.5, B × 0.75 → 2/3, 1/3 of the invested 100%, then half to cash
    assert f == 0.5 and w == pytest.approx({"A": 1 / 3, "B": 1 / 6})
    capped, _ = regime_scaling({"A": 0.5, "B": 0.5}, COV, "crisis", exposure, tilt, caps={"A": 0.6, "B": 1.0})
    assert capped == pytest.approx({"A": 0.3, "B": 1 / 6})
    assert regime_scaling({"A": 0.5, "B": 0.5}, COV, "bull", exposure, tilt)[0] == {"A": 0.5, "B": 0.5}
    assert regime_scaling({"A": 0.5, "B": 0.5}, COV, None, exposure, tilt) == ({"A": 0.5, "B": 0.5}, 1.0)


def test_overlays_compose_and_are_off_by_default() -> None:
    w = {"A": 0.5, "B": 0.5}
    assert apply_sizing(w, MU, COV, SizingSettings(), 0.05) == (w, [])
    out, notes = apply_sizing(w, MU, COV, SizingSettings(target_volatility=0.05, regime_scaling=True), 0.05, regime="crisis")
    # crisis leaves {A: 1/3, B: 1/6} with σ = √(0.04/9 + 0.16/36) = 9.4%; the 5% target then scales it down
    assert portfolio_volatility(out, COV) == pytest.approx(0.05) and out["A"] / out["B"] == pytest.approx(2.0)
    assert len(notes) == 2


def test_build_targets_applies_sizing_only_when_configured() -> None:
    settings = load_settings()
    month = date(2024, 3, 1)
    scores, closes = synthetic_market(month)
    plain = build_targets(month, scores, closes, settings)
    assert "sizing" not in plain.diagnostics
    sized_settings = settings.model_copy(
        update={"portfolio": settings.portfolio.model_copy(update={"sizing": SizingSettings(target_volatility=0.2)})}
    )
    sized = build_targets(month, scores, closes, sized_settings)
    factor = 0.2 / plain.diagnostics["expected_volatility"]
    assert factor < 1
    assert sized.weights["weight"].sum() == pytest.approx(factor, rel=1e-3)
    assert "volatility target 20%" in sized.diagnostics["sizing"]
