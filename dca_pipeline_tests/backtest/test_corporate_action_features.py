"""Features and factors read the continuous history as of their day (ingestion/corporate_actions.history_as_of),
in the Dagster features path and in the backtester's month_targets alike, on the bundled MATIC → POL switch
(2024-09-04, 1:1). Expectations come from a series stitched here by hand (MATIC/BRL rows renamed POL/BRL) and from
numpy on its closes, never from the stitching code under test."""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dca_pipeline.analytics import assets as analytics_assets
from dca_pipeline.analytics.indicators import compute_features
from dca_pipeline.backtest import engine
from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.corporate_actions import history_as_of, stitch_needed
from dca_pipeline.ingestion.sources import ReplaySource

SWITCH = date(2024, 9, 4)
SOURCE = ReplaySource()
RAW = SOURCE.fetch_ohlcv_1d(date(2023, 6, 1), date(2024, 9, 10))  # BRL bars, MATIC/BRL to 09-03, POL/BRL from 09-04


def _by_hand(bars: pl.DataFrame) -> pl.DataFrame:
    """MATIC/BRL relabelled POL/BRL (ratio 1: prices and volumes unchanged); the two never share a date here."""
    assert bars.filter(pl.col("symbol") == "MATIC/BRL")["date"].max() < bars.filter(pl.col("symbol") == "POL/BRL")["date"].min()
    return bars.with_columns(pl.when(pl.col("symbol") == "MATIC/BRL").then(pl.lit("POL/BRL")).otherwise(pl.col("symbol")).alias("symbol"))


def _window(day: date, days: int) -> pl.DataFrame:
    return RAW.filter(pl.col("date").is_between(day - timedelta(days=days - 1), day))


def _stored_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    """The features asset reads the replay's bars as its stored raw_ohlcv_1d window."""
    monkeypatch.setattr(analytics_assets, "read_daily_window", lambda _asset, start, end, symbols=None: RAW.filter(pl.col("date").is_between(start, end)))


def test_pol_features_after_the_switch_run_through_matic_history_with_no_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    day = date(2024, 9, 10)
    _stored_bars(monkeypatch)
    feats, _ = analytics_assets.features_for_day(day)  # the asset's function
    pol = feats.filter(pl.col("symbol") == "POL/BRL").row(0, named=True)
    assert feats.filter(pl.col("symbol") == "MATIC/BRL").is_empty()
    # raw bars give POL 7 days of history: no 30-day volatility, no RSI; the continuous series gives both
    raw_pol = compute_features(_window(day, analytics_assets.LOOKBACK_DAYS)).filter((pl.col("symbol") == "POL/BRL") & (pl.col("date") == day)).row(0, named=True)
    assert raw_pol["vol_30"] is None and pol["vol_30"] is not None and pol["rsi_14"] is not None and pol["sma_200"] is not None
    # 30-day volatility from the hand-stitched closes with numpy: sample std of the last 30 log returns × √365
    closes = _by_hand(_window(day, 40)).filter(pl.col("symbol") == "POL/BRL").sort("date")["close"].to_numpy()
    rets = np.diff(np.log(closes))[-30:]
    assert pol["vol_30"] == pytest.approx(float(np.std(rets, ddof=1)) * math.sqrt(365), rel=1e-9)
    # every feature equals the features of the hand-stitched window
    expected = compute_features(_by_hand(_window(day, analytics_assets.LOOKBACK_DAYS))).filter((pl.col("symbol") == "POL/BRL") & (pl.col("date") == day)).row(0, named=True)
    assert {k: v for k, v in pol.items() if k != "log_return_w"} == expected  # same input, same bits
    # no jump at the switch: the 09-04 return is POL's first close over MATIC's last (−4.1%), not a missing value
    on_switch, _ = analytics_assets.features_for_day(SWITCH)
    ret = on_switch.filter(pl.col("symbol") == "POL/BRL")["log_return"].item()
    matic_last = RAW.filter((pl.col("symbol") == "MATIC/BRL") & (pl.col("date") == SWITCH - timedelta(days=1)))["close"].item()
    pol_first = RAW.filter((pl.col("symbol") == "POL/BRL") & (pl.col("date") == SWITCH))["close"].item()
    assert ret == pytest.approx(math.log(pol_first / matic_last), rel=1e-12) and abs(ret) < 0.05


def test_before_the_switch_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    day = SWITCH - timedelta(days=1)
    window = _window(day, analytics_assets.LOOKBACK_DAYS)
    assert not stitch_needed(window, day) and history_as_of(window, day) is window  # untouched, not even copied
    _stored_bars(monkeypatch)
    feats, _ = analytics_assets.features_for_day(day)
    raw = compute_features(window).filter(pl.col("date") == day)
    assert feats.filter(pl.col("symbol") == "POL/BRL").is_empty()
    assert feats.drop("log_return_w").sort("symbol").equals(raw.sort("symbol"))


def test_backtest_month_targets_read_the_continuous_history_as_of_the_eve(monkeypatch: pytest.MonkeyPatch) -> None:
    """month_targets (the backtester's monthly step) hands tiers and factors the stitched bars and the features of
    that window for October 2024 (eve after the switch); for September (eve before it) the raw bars and the
    shared history's one feature pass, unchanged."""
    settings = load_settings()
    history = engine.MarketHistory.for_run(SOURCE, settings, date(2024, 9, 1), date(2024, 10, 31), False)
    seen: list[tuple[pl.DataFrame, pl.DataFrame]] = []

    class Stop(Exception):
        pass

    def spy(bars, features, *_a, **_k):  # noqa: ANN001, ANN202
        seen.append((bars, features))
        raise Stop

    monkeypatch.setattr(engine, "compute_factors", spy)
    monkeypatch.setattr(engine, "_volatility", lambda *_a: None)  # GARCH is not under test here
    for month in (date(2024, 9, 1), date(2024, 10, 1)):
        with pytest.raises(Stop):
            engine.month_targets(month, history.bars, history.caps(month), settings, None, None, history=history)
    (sep_bars, sep_feats), (oct_bars, oct_feats) = seen

    sep_eve, oct_eve = date(2024, 8, 31), date(2024, 9, 30)
    raw_sep = history.bars.filter(pl.col("date").is_between(date(2024, 9, 1) - timedelta(days=engine.HISTORY_DAYS), sep_eve))
    assert sep_bars.equals(raw_sep) and "MATIC/BRL" in sep_bars["symbol"].to_list() and "POL/BRL" not in sep_bars["symbol"].to_list()
    assert sep_feats.equals(history.eve_features(sep_eve))

    raw_oct = history.bars.filter(pl.col("date").is_between(date(2024, 10, 1) - timedelta(days=engine.HISTORY_DAYS), oct_eve))
    hand = _by_hand(raw_oct)
    assert "MATIC/BRL" not in oct_bars["symbol"].to_list()
    assert oct_bars.filter(pl.col("symbol") == "POL/BRL").equals(hand.filter(pl.col("symbol") == "POL/BRL").sort("date"))
    assert oct_bars.filter(pl.col("symbol") == "POL/BRL")["date"].min() == raw_oct["date"].min()  # MATIC's history, no stranded stub
    assert oct_bars.sort("symbol", "date").equals(hand.sort("symbol", "date"))  # every other coin untouched
    expected = compute_features(hand.filter(pl.col("date") > oct_eve - timedelta(days=engine.FEATURE_WINDOW_DAYS))).filter(pl.col("date") == oct_eve)
    assert oct_feats.sort("symbol").equals(expected.sort("symbol"))  # features of the stitched window, not the raw pass
