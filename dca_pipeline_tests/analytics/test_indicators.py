"""Indicators: hand-checked values, the StockCharts reference sheets shipped with `ta`, and `ta` itself."""
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import ta

from dca_pipeline.analytics.indicators import ANNUALIZATION_DAYS, compute_features
from dca_pipeline_tests.conftest import FIXTURES


def _frame(close, high=None, low=None) -> pl.DataFrame:
    n = len(close)
    close = np.asarray(close, dtype=float)
    return pl.DataFrame(
        {
            "symbol": ["X/BRL"] * n,
            "date": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=n - 1), eager=True),
            "open": close,
            "high": close if high is None else np.asarray(high, dtype=float),
            "low": close if low is None else np.asarray(low, dtype=float),
            "close": close,
            "volume": np.ones(n),
        }
    )


def test_log_return_and_sma_by_hand() -> None:
    closes = [100.0, 110.0, 99.0] + [100.0] * 17
    f = compute_features(_frame(closes))
    assert f["log_return"][1] == pytest.approx(math.log(1.1))
    assert f["log_return"][2] == pytest.approx(math.log(0.9))
    assert f["sma_20"][19] == pytest.approx((100 + 110 + 99 + 17 * 100) / 20)
    assert f["sma_20"][18] is None


def test_volatility_annualized_with_365_days() -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 120)))
    f = compute_features(_frame(closes))
    rets = np.diff(np.log(closes))[-30:]
    assert f["vol_30"][-1] == pytest.approx(rets.std(ddof=1) * math.sqrt(ANNUALIZATION_DAYS))


def test_rsi_matches_stockcharts_sheet() -> None:
    sheet = pd.read_csv(FIXTURES / "cs-rsi.csv")
    f = compute_features(_frame(sheet["Close"].to_numpy()))
    ours, ref = f["rsi_14"].to_numpy(), sheet["RSI"].to_numpy()
    mask = ~np.isnan(ref) & ~np.isnan(ours)
    assert mask.sum() > 10
    np.testing.assert_allclose(ours[mask], ref[mask], rtol=1e-6)


def test_atr_matches_stockcharts_sheet() -> None:
    sheet = pd.read_csv(FIXTURES / "cs-atr.csv")
    f = compute_features(_frame(sheet["Close"].to_numpy(), sheet["High"].to_numpy(), sheet["Low"].to_numpy()))
    ours, ref = f["atr_14"].to_numpy(), sheet["ATR"].to_numpy()
    assert np.isnan(ours[:13]).all()  # warm-up is missing, not zero
    np.testing.assert_allclose(ours[13:], ref[13:], rtol=1e-6)


def test_bollinger_and_macd_match_stockcharts_sheets() -> None:
    bb = pd.read_csv(FIXTURES / "cs-bbands.csv")
    f = compute_features(_frame(bb["Close"].to_numpy()))
    for ours, theirs in (("bb_mid", "MiddleBand"), ("bb_upper", "HighBand"), ("bb_lower", "LowBand")):
        ref = bb[theirs].to_numpy()
        mask = ~np.isnan(ref)
        np.testing.assert_allclose(f[ours].to_numpy()[mask], ref[mask], rtol=1e-6)
    macd = pd.read_csv(FIXTURES / "cs-macd.csv")
    f = compute_features(_frame(macd["Close"].to_numpy()))
    expected = ta.trend.MACD(macd["Close"], window_slow=26, window_fast=12, window_sign=9)
    for ours, theirs in (("macd", expected.macd()), ("macd_signal", expected.macd_signal())):
        ref = theirs.to_numpy(dtype=float)
        mask = ~np.isnan(ref)
        np.testing.assert_allclose(f[ours].to_numpy()[mask], ref[mask], rtol=1e-9)


def test_all_indicators_match_ta_on_random_walk_with_two_symbols() -> None:
    rng = np.random.default_rng(0)
    frames = []
    for sym in ("A/BRL", "B/BRL"):
        n = 300
        c = 50 * np.exp(np.cumsum(rng.normal(0, 0.04, n)))
        h, l = c * (1 + rng.uniform(0, 0.05, n)), c * (1 - rng.uniform(0, 0.05, n))
        frames.append(_frame(c, h, l).with_columns(pl.lit(sym).alias("symbol")))
    f = compute_features(pl.concat(frames)).filter(pl.col("symbol") == "B/BRL")
    src = frames[1].to_pandas()
    C, H, L = src["close"], src["high"], src["low"]
    refs = {
        "rsi_14": ta.momentum.RSIIndicator(C, 14).rsi(),
        "ema_12": ta.trend.EMAIndicator(C, 12).ema_indicator(),
        "ema_26": ta.trend.EMAIndicator(C, 26).ema_indicator(),
        "sma_200": ta.trend.SMAIndicator(C, 200).sma_indicator(),
        "bb_pctb": ta.volatility.BollingerBands(C, 20, 2).bollinger_pband(),
        "macd_hist": ta.trend.MACD(C).macd_diff(),
    }
    atr_ref = ta.volatility.AverageTrueRange(H, L, C, 14).average_true_range().to_numpy()
    np.testing.assert_allclose(f["atr_14"].to_numpy()[13:], atr_ref[13:], rtol=1e-9)
    for col, ref in refs.items():
        ours, theirs = f[col].to_numpy(), ref.to_numpy(dtype=float)
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), col  # same warm-up
        mask = ~np.isnan(theirs)
        np.testing.assert_allclose(ours[mask], theirs[mask], rtol=1e-9, err_msg=col)
