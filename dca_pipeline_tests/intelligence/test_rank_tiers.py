"""Tiers by point-in-time snapshot rank, empty-tier warnings, and the pydantic validation of the tier scheme."""
from datetime import date

import polars as pl
import pytest

from dca_pipeline.config import Settings, load_settings
from dca_pipeline.intelligence.tiers import assign_tiers, empty_tier_warning, empty_tiers, tiers_for_month


def _settings_with(**changes) -> Settings:
    data = load_settings().model_dump(mode="json")
    data.update(changes)
    return Settings.model_validate(data)


def test_default_configuration_tiers_by_rank() -> None:
    s = load_settings()
    assert s.tiers_by == "rank"
    assert [(t.rank_min, t.rank_max) for t in s.tiers] == [(11, 20), (21, 35), (36, 60)]


def test_rank_tiers_assign_by_snapshot_rank_and_volume_floor() -> None:
    tiers = load_settings().tiers  # 11-20 (R$100k), 21-35 (R$50k), 36-60 (R$25k)
    universe = pl.DataFrame({"symbol": ["A", "B", "C", "D", "E", "F", "G"]})
    caps = pl.DataFrame({"symbol": ["A", "B", "C", "D", "E", "F"], "rank": [11, 20, 21, 60, 5, 61],
                         "market_cap_usd": [9e9, 5e9, 4e9, 1e9, 50e9, 0.9e9]})
    volume = pl.DataFrame({"symbol": list("ABCDEFG"), "avg_volume_brl": [1e6, 60e3, 1e6, 30e3, 1e6, 1e6, 1e6]})
    got = {r["symbol"]: (r["tier"], r["reason"]) for r in assign_tiers(universe, caps, volume, tiers, "rank").iter_rows(named=True)}
    assert got["A"] == ("tier_1", "eligible")  # rank 11: first of tier_1's band
    assert got["B"] == (None, "BRL volume below tier floor")  # rank 20 but R$60k < tier_1's R$100k floor
    assert got["C"] == ("tier_2", "eligible")
    assert got["D"] == ("tier_3", "eligible")  # rank 60, R$30k ≥ R$25k
    assert got["E"] == (None, "rank above all tiers (larger cap)")
    assert got["F"] == (None, "rank below all tiers (smaller cap)")
    assert got["G"] == (None, "no market cap in snapshot")  # not listed by the month's snapshot: never tiered


def test_rank_falls_back_to_market_cap_order_when_snapshot_has_no_rank() -> None:
    tiers = load_settings().tiers
    # 40 coins, caps 40..1 (x $1M): the coin with cap 25 is the 16th largest -> tier_1; cap 5 is 36th -> tier_3
    caps = pl.DataFrame({"symbol": [f"C{i}" for i in range(40, 0, -1)], "market_cap_usd": [float(i) * 1e6 for i in range(40, 0, -1)]})
    universe = pl.DataFrame({"symbol": ["C25", "C5"]})
    volume = pl.DataFrame({"symbol": ["C25", "C5"], "avg_volume_brl": [1e6, 1e6]})
    out = assign_tiers(universe, caps, volume, tiers, "rank")
    assert dict(zip(out["symbol"], out["rank"])) == {"C25": 16, "C5": 36}
    assert dict(zip(out["symbol"], out["tier"])) == {"C25": "tier_1", "C5": "tier_3"}


def test_tiers_for_month_is_point_in_time_and_reports_empty_tiers() -> None:
    s = load_settings()
    month = date(2023, 5, 1)
    days = pl.date_range(date(2023, 4, 1), date(2023, 4, 30), "1d", eager=True)
    bars = pl.concat([pl.DataFrame({"symbol": sym, "date": days, "close": 1.0, "volume_brl": 1e6}) for sym in ("X/BRL", "Y/BRL")])
    caps = pl.DataFrame({"symbol": ["X/BRL"], "rank": [15], "market_cap_usd": [1e10]})  # Y/BRL is not in the snapshot
    out = tiers_for_month(bars, caps, month, s)
    assert dict(zip(out["symbol"], out["tier"])) == {"X/BRL": "tier_1", "Y/BRL": None}
    assert empty_tiers(out, s.tiers) == ["tier_2", "tier_3"]
    msg = empty_tier_warning(["tier_2", "tier_3"], s.tiers)
    assert msg.startswith("EMPTY TIER: tier_2, tier_3") and "45%" in msg  # 30% + 15% of the targets
    assert empty_tier_warning([], s.tiers) == "none"


def test_tier_scheme_is_validated() -> None:
    data = load_settings().model_dump(mode="json")
    for t in data["tiers"]:
        t["rank_min"] = t["rank_max"] = None
    with pytest.raises(ValueError, match="tiers_by: rank needs rank_min"):
        Settings.model_validate(data)
    data["tiers_by"] = "usd"  # the seed's USD bands are still on every tier
    assert Settings.model_validate(data).tiers_by == "usd"
    data["tiers"][0]["rank_min"] = 30  # half a band
    with pytest.raises(ValueError, match="rank_min and rank_max must be given together"):
        Settings.model_validate(data)
    data["tiers"][0]["rank_max"] = 20
    with pytest.raises(ValueError, match=r"rank_min \(30\) must be below rank_max \(20\)"):
        Settings.model_validate(data)
