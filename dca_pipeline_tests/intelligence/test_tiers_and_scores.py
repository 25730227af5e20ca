"""Tiers and scores on hand-made frames."""
from datetime import date, timedelta
import math

import numpy as np

import polars as pl
import pytest

from dca_pipeline.config import ScoringWeights, load_settings
from dca_pipeline.intelligence.scores import diversification, liquidity, risk_adjusted_momentum, score_assets, zscore
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


def _bars(closes: dict[str, list[float]], end: date, volume: float = 1e6) -> pl.DataFrame:
    rows = []
    for sym, series in closes.items():
        n = len(series)
        for i, c in enumerate(series):
            rows.append({"symbol": sym, "date": end - timedelta(days=n - 1 - i), "close": c, "volume_brl": volume})
    return pl.DataFrame(rows)


def test_risk_adjusted_momentum_by_hand() -> None:
    as_of = date(2021, 6, 30)
    # alternating +2% / +1% log returns: mean of the window (decay-weighted) over sample std, x sqrt(365)
    rets = [0.02 if i % 2 == 0 else 0.01 for i in range(200)]
    closes = list(np.exp(np.cumsum([0.0] + rets)) * 10)
    bars = _bars({"X": closes}, as_of)
    mom = risk_adjusted_momentum(bars, as_of).row(0, named=True)
    r30 = np.array(rets[-30:])
    ages = np.arange(29, -1, -1)
    w = np.exp(-np.log(2) * ages / 15)
    expected = (w @ r30 / w.sum()) / r30.std(ddof=1) * np.sqrt(365)
    assert mom["mom_30"] == pytest.approx(expected, rel=1e-9)


def test_momentum_needs_coverage_and_ignores_the_future() -> None:
    as_of = date(2021, 6, 30)
    rng = np.random.default_rng(3)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 120))))
    bars = _bars({"Y": closes}, as_of)
    mom = risk_adjusted_momentum(bars, as_of).row(0, named=True)
    assert mom["mom_30"] is not None and mom["mom_90"] is not None
    assert mom["mom_180"] is None  # only 119 returns: less than 80% of 180 days
    future = _bars({"Y": [1e9] * 10}, as_of + timedelta(days=10))
    assert risk_adjusted_momentum(pl.concat([bars, future]), as_of).row(0, named=True) == mom


def test_liquidity_by_hand() -> None:
    as_of = date(2021, 6, 30)
    vols = [100.0] * 83 + [400.0] * 7  # 90 days: the last week is 4x the rest
    bars = pl.DataFrame(
        {"symbol": ["X"] * 90, "date": [as_of - timedelta(days=89 - i) for i in range(90)], "close": [1.0] * 90, "volume_brl": vols}
    )
    row = liquidity(bars, as_of).row(0, named=True)
    assert row["log_volume_30"] == pytest.approx(math.log((23 * 100 + 7 * 400) / 30))
    assert row["volume_surge"] == pytest.approx(math.log(400 / ((83 * 100 + 7 * 400) / 90)))


def test_zscore_within_group_and_singleton_is_zero() -> None:
    f = pl.DataFrame({"tier": ["a", "a", "a", "b"], "x": [1.0, 2.0, 3.0, 7.0]}).with_columns(zscore("x").alias("z"))
    assert f["z"].to_list() == pytest.approx([-1.0, 0.0, 1.0, 0.0])


def test_composite_weights_groups_and_ranks_within_tier() -> None:
    factors = pl.DataFrame(
        {"symbol": ["A", "B"], "tier": ["t", "t"], "mom_30": [0.2, 0.1], "mom_90": [0.2, 0.1], "mom_180": [0.2, 0.1],
         "rsi_reversion": [0.0, 0.0], "bb_reversion": [0.0, 0.0]}
    )
    s = score_assets(factors, ScoringWeights())
    a = s.row(0, named=True)
    assert a["symbol"] == "A" and a["rank_in_tier"] == 1
    # momentum z = +1/sqrt(2) for A (two values, sample std); every other group is neutral
    assert a["momentum_score"] == pytest.approx(1 / math.sqrt(2))
    assert a["score"] == pytest.approx(0.35 / math.sqrt(2))
    assert a["factors_missing"] == 4  # liquidity (2), volatility regime, diversification


def test_diversification_prefers_the_uncorrelated_coin() -> None:
    as_of = date(2021, 6, 30)
    rng = np.random.default_rng(5)
    common = rng.normal(0, 0.03, 120)
    series = {
        "A": 10 * np.exp(np.cumsum(common + rng.normal(0, 0.005, 120))),
        "B": 10 * np.exp(np.cumsum(common + rng.normal(0, 0.005, 120))),
        "C": 10 * np.exp(np.cumsum(rng.normal(0, 0.03, 120))),
    }
    d = diversification(_bars({k: list(v) for k, v in series.items()}, as_of), as_of, ["A", "B", "C"])
    got = dict(zip(d["symbol"], d["diversification"]))
    assert got["C"] > got["A"] and got["C"] > got["B"]
