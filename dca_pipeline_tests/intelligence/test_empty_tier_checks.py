"""The empty-tier warnings: non-blocking checks on asset_tiers and target_weights that fail on an empty tier."""
from datetime import date

import polars as pl
from dagster import AssetCheckSeverity

from dca_pipeline.intelligence.assets import every_tier_populated
from dca_pipeline.portfolio.assets import every_tier_targeted
from dca_pipeline.resources import PipelineConfig

M = date(2019, 2, 1)


def test_every_tier_populated_warns_on_an_empty_tier() -> None:
    tiers = pl.DataFrame({"month": [M] * 3, "symbol": ["A/BRL", "B/BRL", "C/BRL"], "tier": ["tier_1", "tier_2", None]})
    r = every_tier_populated(asset_tiers=tiers, config=PipelineConfig())
    assert not r.passed and r.severity == AssetCheckSeverity.WARN
    assert r.metadata["empty_tiers"].value == "tier_3"
    full = tiers.with_columns(pl.Series("tier", ["tier_1", "tier_2", "tier_3"]))
    assert every_tier_populated(asset_tiers=full, config=PipelineConfig()).passed


def test_every_tier_targeted_ignores_zero_weights() -> None:
    w = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "C/BRL"], "tier": ["tier_1", "tier_2", "tier_3"], "weight": [0.6, 0.4, 0.0]})
    r = every_tier_targeted(target_weights=w, config=PipelineConfig())
    assert not r.passed and r.metadata["empty_tiers"].value == "tier_3" and "EMPTY TIER: tier_3" in r.metadata["warning"].value
