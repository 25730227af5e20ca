"""The indicator suite against TA-Lib (the C library), on a random walk of several symbols.

TA-Lib shares `ta`'s conventions for the windowed indicators, so those must agree wherever TA-Lib has a value.
The recursive ones differ only in how they are seeded (TA-Lib seeds EMAs and Wilder sums with a simple mean
over its own start rows); the seed's weight decays geometrically, so after a long warm-up they must agree too.
"""
import numpy as np
import polars as pl
import pytest
import talib

from dca_pipeline.analytics.indicators import compute_indicators

BARS = 1500
SETTLED = 700  # rows after which a different seed weighs less than (13/14)^700 ≈ 3e-23


def _walk(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 20 * np.exp(np.cumsum(rng.normal(0, 0.04, BARS)))
    return {
        "high": c * (1 + rng.uniform(0, 0.05, BARS)),
        "low": c * (1 - rng.uniform(0, 0.05, BARS)),
        "close": c,
        "volume": rng.uniform(1e3, 1e6, BARS),
    }


@pytest.fixture(scope="module")
def walks() -> tuple[pl.DataFrame, dict[str, dict[str, np.ndarray]]]:
    series = {f"S{i}/BRL": _walk(i) for i in range(3)}
    days = pl.date_range(pl.date(2015, 1, 1), pl.date(2015, 1, 1) + pl.duration(days=BARS - 1), eager=True)
    frames = [
        pl.DataFrame({"symbol": [s] * BARS, "date": days, "open": x["close"], **x}) for s, x in series.items()
    ]
    shuffled = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=7)  # order must not matter
    return compute_indicators(shuffled), series


def _talib_reference(x: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    h, l, c, v = x["high"], x["low"], x["close"], x["volume"]  # noqa: E741
    up, mid, low = talib.BBANDS(c, 20, 2, 2, 0)
    fast_k, fast_d = talib.STOCHF(h, l, c, 14, 3, 0)
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    exact = {
        "sma_20": talib.SMA(c, 20), "sma_50": talib.SMA(c, 50), "sma_200": talib.SMA(c, 200),
        "bb_mid": mid, "bb_upper": up, "bb_lower": low, "bb_pctb": (c - low) / (up - low),
        "bb_width": 100 * (up - low) / mid, "stoch_k": fast_k, "stoch_d": fast_d,
        "williams_r_14": talib.WILLR(h, l, c, 14), "roc_12": talib.ROC(c, 12),
        "vwap_14": talib.SUM((h + l + c) / 3 * v, 14) / talib.SUM(v, 14),
        "obv": talib.OBV(c, v), "adl": talib.AD(h, l, c, v),
    }
    settled = {
        "ema_12": talib.EMA(c, 12), "ema_26": talib.EMA(c, 26), "macd": macd, "macd_signal": signal,
        "macd_hist": hist, "rsi_14": talib.RSI(c, 14), "atr_14": talib.ATR(h, l, c, 14),
        "adx_14": talib.ADX(h, l, c, 14), "plus_di_14": talib.PLUS_DI(h, l, c, 14),
        "minus_di_14": talib.MINUS_DI(h, l, c, 14),
    }
    return exact, settled


def test_windowed_indicators_equal_talib_wherever_it_has_a_value(walks) -> None:  # noqa: ANN001
    out, series = walks
    for symbol, x in series.items():
        ours = out.filter(pl.col("symbol") == symbol)
        exact, _ = _talib_reference(x)
        for name, ref in exact.items():
            mine = ours[name].to_numpy()
            has = ~np.isnan(ref)
            assert has.sum() > BARS - 250, name
            assert not np.isnan(mine[has]).any(), f"{name}: null where TA-Lib has a value"
            np.testing.assert_allclose(mine[has], ref[has], rtol=1e-9, atol=1e-9, err_msg=f"{symbol} {name}")


def test_recursive_indicators_equal_talib_once_the_seed_has_decayed(walks) -> None:  # noqa: ANN001
    out, series = walks
    for symbol, x in series.items():
        ours = out.filter(pl.col("symbol") == symbol)
        _, settled = _talib_reference(x)
        for name, ref in settled.items():
            mine = ours[name].to_numpy()[SETTLED:]
            np.testing.assert_allclose(mine, ref[SETTLED:], rtol=1e-9, err_msg=f"{symbol} {name}")


def test_the_seed_difference_is_visible_early(walks) -> None:  # noqa: ANN001
    """Guards the test above against comparing a series with itself: early on the seeds make them differ."""
    out, series = walks
    symbol, x = next(iter(series.items()))
    _, settled = _talib_reference(x)
    ours = out.filter(pl.col("symbol") == symbol)["ema_12"].to_numpy()
    assert abs(ours[11] - settled["ema_12"][11]) > 1e-6
