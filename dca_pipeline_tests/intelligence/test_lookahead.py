"""No look-ahead: adding data after the decision date changes no feature, tier, score or regime of that date."""
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dca_pipeline.analytics.indicators import compute_features
from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.intelligence.regime import fit_regimes, market_features
from dca_pipeline.intelligence.scores import compute_factors, score_assets
from dca_pipeline.intelligence.tiers import assign_tiers, average_volume_brl

AS_OF = date(2020, 12, 31)


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    """The replay's bars after ingestion's quarantine, as the pipeline sees them (Yahoo SHIB's 0.0-price rows
    would otherwise make a Bollinger %B of 0/0 whose inf/NaN flavour depends on the rolling window's history)."""
    return split_valid_ohlcv(ReplaySource().fetch_ohlcv_1d(date(2019, 6, 1), date(2021, 6, 30)))[0]


def _decide(bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    settings = load_settings()
    features = compute_features(bars).filter(pl.col("date") == AS_OF)
    volume = average_volume_brl(bars.filter(pl.col("date").is_between(date(2020, 12, 2), AS_OF)))
    caps = ReplaySource().fetch_market_caps(date(2021, 1, 1))
    universe = bars.filter(pl.col("date") == AS_OF).select("symbol")
    tiers = assign_tiers(universe, caps, volume, settings.tiers)
    scores = score_assets(compute_factors(bars, features, tiers, AS_OF), settings.scoring)
    return features, tiers, scores


def test_future_rows_change_nothing_decided_before(bars: pl.DataFrame) -> None:
    past = bars.filter(pl.col("date") <= AS_OF)
    # the future is made wild on purpose: prices x100 and volumes x0.01 after AS_OF
    wild = bars.filter(pl.col("date") > AS_OF).with_columns(
        pl.col("open", "high", "low", "close") * 100, pl.col("volume", "volume_brl") * 0.01
    )
    for a, b in zip(_decide(past), _decide(pl.concat([past, wild]))):
        assert len(a) > 0
        assert_frame_equal(a.sort(a.columns[:2]), b.sort(b.columns[:2]))


def test_regime_ignores_the_future(bars: pl.DataFrame) -> None:
    wide = bars.pivot(on="symbol", index="date", values="close").sort("date")
    past = fit_regimes(market_features(wide.filter(pl.col("date") <= AS_OF)), AS_OF)
    full = fit_regimes(market_features(wide), AS_OF)
    assert past.label == full.label
    for k, v in past.probabilities.items():
        assert full.probabilities[k] == pytest.approx(v, abs=1e-9)
