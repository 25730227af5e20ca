"""Tiers and scores on hand-made frames."""
from datetime import date, timedelta
import math

import polars as pl
import pytest

from dca_pipeline.config import load_settings
from dca_pipeline.intelligence.scores import momentum, score_assets, zscore
from dca_pipeline.intelligence.tiers import assign_tiers


def test_tier_assignment_smallest_cap_tier_wins_and_reasons() -> None:
    tiers = load_settings().tiers
    universe = pl.DataFrame({"symbol": ["A", "B", "C", "D", "E", "F", "G"]})
    caps = pl.DataFrame(
        {"symbol": ["A", "B", "C", "D", "E", "F"], "market_cap_usd": [300e6, 100e6, 30e6, 10e6, 1e9, 100e6]}
    )
    volume = pl.DataFrame(
        {"symbol": ["A", "B", "C", "D", "E", "F", "G"], "avg_volume_brl": [1e6, 1e6, 1e6, 1e6, 1e6, 60e3, 1e6]}
    )
    out = assign_tiers(universe, caps, volume, tiers)
    got = {r["symbol"]: (r["tier"], r["reason"]) for r in out.iter_rows(named=True)}
    assert got["A"] == ("tier_1", "eligible")  # $300M: only tier_1's range
    assert got["B"] == ("tier_2", "eligible")  # $100M: tier_1 and tier_2 ranges, the smaller-cap tier wins
    assert got["C"] == ("tier_3", "eligible")  # $30M: tier_2 and tier_3 -> tier_3
    assert got["D"] == ("tier_3", "eligible")
    assert got["E"] == (None, "market cap above all tiers")
    assert got["F"] == ("tier_2", "eligible")  # R$60k passes tier_2's R$50k floor (fails tier_1's R$100k)
    assert got["G"] == (None, "no market cap in snapshot")


def test_momentum_by_hand() -> None:
    as_of = date(2021, 6, 30)
    days = [as_of - timedelta(days=i) for i in range(200)]
    closes = pl.DataFrame({"symbol": ["X"] * 200, "date": days, "close": [100.0 + i for i in range(200)][::-1]})
    # close(as_of) = 100 + 199 = 299? No: reversed list -> as_of gets 299 - 0... compute explicitly
    by_day = dict(zip(days, closes["close"].to_list()))
    mom = momentum(closes, as_of).row(0, named=True)
    assert mom["mom_30"] == pytest.approx(math.log(by_day[as_of] / by_day[as_of - timedelta(days=30)]))
    assert mom["mom_180"] == pytest.approx(math.log(by_day[as_of] / by_day[as_of - timedelta(days=180)]))


def test_zscore_within_group_and_singleton_is_zero() -> None:
    f = pl.DataFrame({"tier": ["a", "a", "a", "b"], "x": [1.0, 2.0, 3.0, 7.0]}).with_columns(zscore("x").alias("z"))
    assert f["z"].to_list() == pytest.approx([-1.0, 0.0, 1.0, 0.0])


def test_scores_rank_momentum_and_reversion_within_tier() -> None:
    tiers = pl.DataFrame({"symbol": ["A", "B", "C"], "tier": ["t", "t", None]})
    mom = pl.DataFrame({"symbol": ["A", "B"], "mom_30": [0.2, 0.1], "mom_90": [0.2, 0.1], "mom_180": [0.2, 0.1]})
    feats = pl.DataFrame({"symbol": ["A", "B"], "rsi_14": [50.0, 50.0], "bb_pctb": [0.5, 0.5]})
    s = score_assets(tiers, mom, feats)
    assert s["symbol"].to_list() == ["A", "B"]  # C has no tier: not scored
    a = s.row(0, named=True)
    # momentum z = +0.7071 for A (two values, sample std), reversion z = 0 (no dispersion)
    assert a["momentum_score"] == pytest.approx(1 / math.sqrt(2))
    assert a["score"] == pytest.approx(0.6 / math.sqrt(2))
    assert a["rank_in_tier"] == 1
