"""Benchmark: the indicator suite vs TA-Lib and the `ta` library, same synthetic OHLCV data, one process.

Usage: python benchmarks/indicators.py [--symbols 300] [--bars 3000] [--runs 5] [--no-ta]
Every engine computes the same 25 columns for every symbol. Runs alternate between this engine and TA-Lib
(best of --runs each, after a warm-up) so both see the same machine load. TA-Lib is timed two ways: its
functions on each symbol's arrays with the results discarded (the C library alone), and the same plus
assembling the columns into one frame like ours returns. Prints each time and the ratios (target: ours ≤
1.0× TA-Lib). Not a test.
"""
import argparse
import time
import warnings

import numpy as np
import pandas as pd
import polars as pl


def synthetic_ohlcv(symbols: int, bars: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = symbols * bars
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.04, (symbols, bars)), axis=1)).ravel()
    high = close * (1 + rng.uniform(0, 0.05, n))
    low = close * (1 - rng.uniform(0, 0.05, n))
    days = pl.date_range(pl.date(2010, 1, 1), pl.date(2010, 1, 1) + pl.duration(days=bars - 1), eager=True)
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:03d}/BRL" for i in range(symbols)], bars),
            "date": pl.concat([days] * symbols),
            "open": np.clip(close * (1 + rng.normal(0, 0.01, n)), low, high),
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1e3, 1e6, n),
        }
    )


def ta_suite(frame: pd.DataFrame) -> None:
    """The same indicators through `ta`, one symbol at a time (how it is used)."""
    import ta

    for _, s in frame.groupby("symbol", sort=False):
        h, l, c, v = s["high"], s["low"], s["close"], s["volume"]
        for w in (20, 50, 200):
            ta.trend.SMAIndicator(c, w).sma_indicator()
        for w in (12, 26):
            ta.trend.EMAIndicator(c, w).ema_indicator()
        m = ta.trend.MACD(c)
        m.macd(), m.macd_signal(), m.macd_diff()
        a = ta.trend.ADXIndicator(h, l, c, 14)
        a.adx(), a.adx_pos(), a.adx_neg()
        ta.momentum.RSIIndicator(c, 14).rsi()
        st = ta.momentum.StochasticOscillator(h, l, c, 14, 3)
        st.stoch(), st.stoch_signal()
        ta.momentum.WilliamsRIndicator(h, l, c, 14).williams_r()
        ta.momentum.ROCIndicator(c, 12).roc()
        b = ta.volatility.BollingerBands(c, 20, 2)
        b.bollinger_mavg(), b.bollinger_hband(), b.bollinger_lband(), b.bollinger_pband(), b.bollinger_wband()
        ta.volatility.AverageTrueRange(h, l, c, 14).average_true_range()
        ta.volume.VolumeWeightedAveragePrice(h, l, c, v, 14).volume_weighted_average_price()
        ta.volume.OnBalanceVolumeIndicator(c, v).on_balance_volume()
        ta.volume.AccDistIndexIndicator(h, l, c, v).acc_dist_index()


def talib_suite(h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray, starts: np.ndarray, assemble: bool) -> pl.DataFrame | None:  # noqa: E741
    """The same 25 columns through TA-Lib, one symbol at a time (VWAP from TA-Lib's SUM, %B/width from its
    bands); with `assemble`, concatenated into one frame per column like compute_indicators returns."""
    import talib

    parts: dict[str, list[np.ndarray]] = {}
    for a, b in zip(starts[:-1], starts[1:]):
        H, L, C, V = h[a:b], l[a:b], c[a:b], v[a:b]
        macd, signal, hist = talib.MACD(C, 12, 26, 9)
        k, d = talib.STOCH(H, L, C, 14, 3, 0, 3, 0)
        up, mid, low = talib.BBANDS(C, 20, 2, 2, 0)
        width = up - low
        cols = {
            "sma_20": talib.SMA(C, 20), "sma_50": talib.SMA(C, 50), "sma_200": talib.SMA(C, 200),
            "ema_12": talib.EMA(C, 12), "ema_26": talib.EMA(C, 26), "macd": macd, "macd_signal": signal,
            "macd_hist": hist, "adx_14": talib.ADX(H, L, C, 14), "plus_di_14": talib.PLUS_DI(H, L, C, 14),
            "minus_di_14": talib.MINUS_DI(H, L, C, 14), "rsi_14": talib.RSI(C, 14), "stoch_k": k, "stoch_d": d,
            "williams_r_14": talib.WILLR(H, L, C, 14), "roc_12": talib.ROC(C, 12), "bb_mid": mid, "bb_upper": up,
            "bb_lower": low, "bb_pctb": (C - low) / width, "bb_width": 100 * width / mid,
            "atr_14": talib.ATR(H, L, C, 14),
            "vwap_14": talib.SUM((H + L + C) / 3 * V, 14) / talib.SUM(V, 14),
            "obv": talib.OBV(C, V), "adl": talib.AD(H, L, C, V),
        }
        if assemble:
            for name, values in cols.items():
                parts.setdefault(name, []).append(values)
    if not assemble:
        return None
    return pl.DataFrame({name: np.concatenate(chunks) for name, chunks in parts.items()}, nan_to_null=True)


def _best(fn, runs: list[float]) -> None:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    runs.append(time.perf_counter() - t0)


def main() -> None:
    from dca_pipeline.analytics.indicators import compute_indicators

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-ta", action="store_true", help="skip the (slow) `ta` library")
    args = parser.parse_args()
    frame = synthetic_ohlcv(args.symbols, args.bars)
    h, l, c, v = (frame[col].to_numpy() for col in ("high", "low", "close", "volume"))  # noqa: E741
    starts = np.arange(0, frame.height + 1, args.bars)
    out = compute_indicators(frame)  # warm up: loads the compiled kernels
    talib_suite(h, l, c, v, starts, assemble=True)
    ours: list[float] = []
    bare: list[float] = []
    framed: list[float] = []
    for _ in range(args.runs):  # interleaved: the machine has 2 cores and other work can steal one
        _best(lambda: compute_indicators(frame), ours)
        _best(lambda: talib_suite(h, l, c, v, starts, assemble=False), bare)
        _best(lambda: talib_suite(h, l, c, v, starts, assemble=True), framed)
    print(f"rows: {frame.height:,} ({args.symbols} symbols × {args.bars} bars), indicator columns: {out.width - frame.width}")
    print(f"best of {args.runs}, interleaved:")
    print(f"  dca_pipeline (numba kernels, frame out): {min(ours):7.3f} s")
    print(f"  TA-Lib, C functions only:                {min(bare):7.3f} s")
    print(f"  TA-Lib, + same frame out:                {min(framed):7.3f} s")
    print(f"ratio ours / TA-Lib (C functions only):    {min(ours) / min(bare):7.2f}×  (target ≤ 1.0×)")
    print(f"ratio ours / TA-Lib (same frame out):      {min(ours) / min(framed):7.2f}×")
    if not args.no_ta:
        pdf = frame.to_pandas()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ta_suite(pdf)
            theirs = time.perf_counter() - t0
        print(f"ta (pandas), one run:                      {theirs:7.3f} s  → ours is {theirs / min(ours):.0f}× faster")


if __name__ == "__main__":
    main()
