"""The turnover blend never breaks this month's caps; a coin that left every tier is not targeted."""
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from dca_pipeline.config import load_settings
from dca_pipeline.portfolio.optimize import apply_turnover_cap
from dca_pipeline.portfolio.targets import blend_within_caps, build_targets
from dca_pipeline_tests.portfolio.synthetic import synthetic_market


def test_hand_case_clipped_excess_moves_toward_the_new_weights() -> None:
    old = {"A": 0.50, "B": 0.50}
    new = {"A": 0.10, "B": 0.40, "C": 0.50}
    caps = {"A": 0.10, "B": 0.45, "C": 0.50}
    blended, lam = apply_turnover_cap(new, old, 0.20)  # turnover 0.5 -> lambda 0.4
    assert lam == pytest.approx(0.4)
    assert blended == pytest.approx({"A": 0.34, "B": 0.46, "C": 0.20})  # A 34% > its 10% cap; B 46% > 45%
    out, hit = blend_within_caps(blended, new, caps)
    assert hit == ["A", "B"]
    # A -> 10%, B -> 45%; the excess 24% + 1% = 25% goes to C's gap (50% - 20% = 30%), all of it fits
    assert out == pytest.approx({"A": 0.10, "B": 0.45, "C": 0.45})


def test_hand_case_coin_without_a_cap_leaves_and_unplaceable_excess_stays_cash() -> None:
    out, hit = blend_within_caps({"OLD": 0.30, "X": 0.50}, {"X": 0.60}, {"X": 0.60})
    # OLD left every tier (cap 0): its 30% moves to X's gap of 10%; the other 20% stays in cash
    assert hit == ["OLD"] and out == pytest.approx({"X": 0.60})


weights = st.dictionaries(st.sampled_from("ABCDEFGH"), st.floats(0.0, 1.0), min_size=1, max_size=8)


@hsettings(max_examples=300, deadline=None)
@given(old=weights, new_raw=weights, cap_raw=st.dictionaries(st.sampled_from("ABCDEFGH"), st.floats(0.0, 0.6), max_size=8),
       turnover_cap=st.floats(0.01, 1.0))
def test_blend_never_breaks_a_cap_and_never_invents_weight(old, new_raw, cap_raw, turnover_cap) -> None:
    caps = {k: cap_raw.get(k, 0.0) for k in "ABCDEFGH"}
    # a feasible optimum: within caps, summing to at most 1; last month's weights sum to at most 1
    new = {k: min(v, caps[k]) for k, v in new_raw.items()}
    s_new, s_old = sum(new.values()), sum(old.values())
    new = {k: v / s_new for k, v in new.items()} if s_new > 1 else new
    new = {k: min(v, caps[k]) for k, v in new.items()}
    old = {k: v / s_old for k, v in old.items()} if s_old > 1 else old
    blended, _ = apply_turnover_cap(new, old, turnover_cap)
    out, _ = blend_within_caps(blended, new, caps)
    for k, w in out.items():
        assert w <= caps[k] + 1e-12, (k, w, caps[k])
        assert w > 0
    assert sum(out.values()) <= max(sum(blended.values()), 0) + 1e-9


def test_build_targets_drops_a_coin_that_left_every_tier() -> None:
    s = load_settings()
    month = date(2024, 3, 1)
    scores, closes = synthetic_market(month)
    previous = pl.DataFrame({"symbol": ["GONE/BRL"], "tier": ["tier_1"], "weight": [0.9], "cap": [0.9]})
    r = build_targets(month, scores, closes, s, previous)
    w = r.weights
    assert "GONE/BRL" not in w["symbol"].to_list()  # not in this month's tiers: cap 0, not targeted
    assert r.diagnostics["turnover_blend_cap_clipped"] == "GONE/BRL"
    assert (w["weight"] <= w["cap"] + 1e-12).all()
    caps = {b.tier: b.cap for b in r.plan.budgets}
    assert all(c == pytest.approx(caps[t]) for t, c in zip(w["tier"], w["cap"]))  # this month's caps, not last month's
