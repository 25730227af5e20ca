"""Compiled kernels for the indicator suite: one pass per symbol computes every indicator (numba; symbols
split over threads). Conventions are the `ta` library's, documented per column in `indicators.py`; the values are
checked against `ta`, TA-Lib and the StockCharts sheets in the tests.

`suite(high, low, close, volume, starts)` takes float64 columns sorted by symbol then date and the row offsets
where each symbol starts (plus the total length at the end); it returns a (len(COLUMNS), n) float64 array.
WARMUP holds each column's warm-up (rows per symbol that read as null); `validity` turns it into Arrow
bitmaps. Compiled on first use and cached next to this file (numba `cache=True`).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from dca_pipeline.analytics.indicator_columns import INDICATOR_COLUMNS as COLUMNS

WARMUP = np.array(
    [19, 49, 199, 11, 25, 25, 33, 33, 27, 14, 14, 13, 13, 15, 13, 12, 19, 19, 19, 19, 19, 13, 13, 0, 0],
    dtype=np.int64,
)
(SMA20, SMA50, SMA200, EMA12, EMA26, MACD, MACD_SIGNAL, MACD_HIST, ADX, PDI, MDI, RSI, STOCH_K, STOCH_D, WILLR,
 ROC, BB_MID, BB_UP, BB_LOW, BB_PCTB, BB_WIDTH, ATR, VWAP, OBV, ADL) = range(len(COLUMNS))

_JIT = {"nogil": True, "error_model": "numpy", "fastmath": False}  # IEEE division: x/0 → inf/NaN, like polars


def _compiled(fn):  # noqa: ANN001, ANN202
    """numba-compiled `fn`, cached on disk when there is a writable place for it (else compiled per process)."""
    try:
        return nb.njit(cache=True, **_JIT)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return nb.njit(cache=False, **_JIT)(fn)


@nb.njit(inline="always")
def _kahan(total: float, comp: float, x: float) -> tuple[float, float]:
    """Compensated running sum (pandas' rolling-sum convention): add `x` (subtract by passing −x)."""
    y = x - comp
    t = total + y
    return t, (t - total) - y


@_compiled
def _rolling_mean(x: np.ndarray, out: np.ndarray, window: int) -> None:
    total = comp = 0.0
    for i in range(x.size):
        total, comp = _kahan(total, comp, x[i])
        if i >= window:
            total, comp = _kahan(total, comp, -x[i - window])
        if i >= window - 1:
            out[i] = total / window


@_compiled
def _segment(h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray, out: np.ndarray, a: int, b: int) -> None:  # noqa: E741
    n = b - a
    if n == 0:
        return
    h, l, c, v = h[a:b], l[a:b], c[a:b], v[a:b]  # noqa: E741
    o = out[:, a:b]
    _rolling_mean(c, o[SMA20], 20)
    _rolling_mean(c, o[SMA50], 50)
    _rolling_mean(c, o[SMA200], 200)
    a12, a26, a9, w = 2.0 / 13.0, 2.0 / 27.0, 2.0 / 10.0, 1.0 / 14.0
    ema12 = ema26 = c[0]
    signal = gain = loss = atr = trs = pdms = mdms = adx = 0.0
    obv = adl = 0.0
    pv = pv_c = vol = vol_c = 0.0
    hh = ll = 0.0
    for i in range(n):
        ci, hi, li, vi = c[i], h[i], l[i], v[i]
        # EMA 12/26, MACD (ewm adjust=False from the first value; signal from the first MACD value)
        if i > 0:
            ema12 = (1.0 - a12) * ema12 + a12 * ci
            ema26 = (1.0 - a26) * ema26 + a26 * ci
        o[EMA12, i] = ema12
        o[EMA26, i] = ema26
        macd = ema12 - ema26
        o[MACD, i] = macd
        if i == 25:
            signal = macd
        elif i > 25:
            signal = (1.0 - a9) * signal + a9 * macd
        o[MACD_SIGNAL, i] = signal
        o[MACD_HIST, i] = macd - signal
        # RSI 14: Wilder-weighted (alpha 1/14) gains and losses, the first row counting as no change
        if i > 0:
            d = ci - c[i - 1]
            gain = (1.0 - w) * gain + w * max(d, 0.0)
            loss = (1.0 - w) * loss + w * max(-d, 0.0)
        o[RSI, i] = 100.0 if loss == 0.0 else 100.0 - 100.0 / (1.0 + gain / loss)
        # true range, ATR 14 seeded with the mean of the first 14 true ranges
        if i == 0:
            tr = hi - li
        else:
            pc = c[i - 1]
            tr = max(hi, pc) - min(li, pc)
        if i < 13:
            atr += tr
        elif i == 13:
            atr = (atr + tr) / 14.0
        else:
            atr = (1.0 - w) * atr + w * tr
        o[ATR, i] = atr
        # ADX 14: directional movement and true range from the second row, Wilder-smoothed
        if i > 0:
            up, down = hi - h[i - 1], l[i - 1] - li
            pdm = up if (up > down and up > 0.0) else 0.0
            mdm = down if (down > up and down > 0.0) else 0.0
            if i < 14:
                trs += tr
                pdms += pdm
                mdms += mdm
            elif i == 14:
                trs, pdms, mdms = (trs + tr) / 14.0, (pdms + pdm) / 14.0, (mdms + mdm) / 14.0
            else:
                trs = (1.0 - w) * trs + w * tr
                pdms = (1.0 - w) * pdms + w * pdm
                mdms = (1.0 - w) * mdms + w * mdm
            if i >= 14:
                pdi = 100.0 * (pdms * 14.0) / (trs * 14.0)
                mdi = 100.0 * (mdms * 14.0) / (trs * 14.0)
                o[PDI, i] = pdi
                o[MDI, i] = mdi
                dx = 100.0 * abs(pdi - mdi) / (pdi + mdi)
                if i < 27:
                    adx += dx
                elif i == 27:
                    adx = (adx + dx) / 14.0
                else:
                    adx = (1.0 - w) * adx + w * dx
                o[ADX, i] = adx
        # stochastic %K/%D and Williams %R over the 14-bar high/low
        if i >= 13:
            if i == 13 or h[i - 14] == hh:
                hh = h[i - 13]
                for j in range(i - 12, i + 1):
                    hh = max(hh, h[j])
            else:
                hh = max(hh, hi)
            if i == 13 or l[i - 14] == ll:
                ll = l[i - 13]
                for j in range(i - 12, i + 1):
                    ll = min(ll, l[j])
            else:
                ll = min(ll, li)
            k = 100.0 * (ci - ll) / (hh - ll)
            o[STOCH_K, i] = k
            o[WILLR, i] = -100.0 * (hh - ci) / (hh - ll)
            if i >= 15:
                o[STOCH_D, i] = (o[STOCH_K, i - 2] + o[STOCH_K, i - 1] + k) / 3.0
        # ROC 12
        if i >= 12:
            o[ROC, i] = 100.0 * (ci - c[i - 12]) / c[i - 12]
        # Bollinger 20, 2σ (population σ, two passes over the window; exactly 0 on a flat window)
        if i >= 19:
            flat = True
            for j in range(i - 19, i):
                if c[j] != ci:
                    flat = False
                    break
            if flat:
                mid, sd = ci, 0.0
                o[SMA20, i] = ci
            else:
                mid = o[SMA20, i]
                ss = 0.0
                for j in range(i - 19, i + 1):
                    dev = c[j] - mid
                    ss += dev * dev
                sd = np.sqrt(ss / 20.0)
            up_b, lo_b = mid + 2.0 * sd, mid - 2.0 * sd
            o[BB_MID, i] = mid
            o[BB_UP, i] = up_b
            o[BB_LOW, i] = lo_b
            o[BB_PCTB, i] = (ci - lo_b) / (up_b - lo_b)
            o[BB_WIDTH, i] = 100.0 * (up_b - lo_b) / mid
        # VWAP 14 (typical price), OBV, accumulation/distribution
        pv, pv_c = _kahan(pv, pv_c, (hi + li + ci) / 3.0 * vi)
        vol, vol_c = _kahan(vol, vol_c, vi)
        if i >= 14:
            pv, pv_c = _kahan(pv, pv_c, -((h[i - 14] + l[i - 14] + c[i - 14]) / 3.0 * v[i - 14]))
            vol, vol_c = _kahan(vol, vol_c, -v[i - 14])
        if i >= 13:
            o[VWAP, i] = pv / vol
        obv += -vi if (i > 0 and ci < c[i - 1]) else vi
        o[OBV, i] = obv
        mfm = ((ci - li) - (hi - ci)) / (hi - li) if hi != li else 0.0
        adl += mfm * vi
        o[ADL, i] = adl


@_compiled
def _segments(h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray, starts: np.ndarray, out: np.ndarray, first: int, last: int) -> None:  # noqa: E741
    for s in range(first, last):
        _segment(h, l, c, v, out, starts[s], starts[s + 1])


@_compiled
def _validity(starts: np.ndarray, warmups: np.ndarray, n: int) -> np.ndarray:
    """Arrow validity bitmaps, one row per warm-up: bit r is clear while row r is fewer than that many rows
    into its symbol (little-endian bit order, as Arrow stores them)."""
    bits = np.full((warmups.size, (n + 7) // 8), 0xFF, np.uint8)
    for k in range(warmups.size):
        for s in range(starts.size - 1):
            for r in range(starts[s], min(starts[s] + warmups[k], starts[s + 1])):
                bits[k, r >> 3] &= np.uint8(0xFF ^ (1 << (r & 7)))
    return bits


def suite(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Every indicator for every symbol: a (len(COLUMNS), n) array; warm-up rows hold garbage (mask them).

    Symbols are split into contiguous blocks of about equal row counts, one per available core, run on Python
    threads (the kernel releases the GIL): thread-safe and fork-safe, unlike numba's own parallel layers."""
    out = np.empty((len(COLUMNS), close.size), np.float64)
    symbols = starts.size - 1
    workers = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, symbols))
    if workers == 1 or close.size < 50_000:
        _segments(high, low, close, volume, starts, out, 0, symbols)
        return out
    cuts = np.searchsorted(starts, np.linspace(0, close.size, workers + 1)[1:-1])
    bounds = [0, *sorted(set(int(x) for x in cuts) - {0, symbols}), symbols]
    with ThreadPoolExecutor(max_workers=len(bounds) - 1) as pool:
        jobs = [pool.submit(_segments, high, low, close, volume, starts, out, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        for job in jobs:
            job.result()
    return out


def validity(starts: np.ndarray, warmups: np.ndarray, n: int) -> np.ndarray:
    return _validity(starts, warmups, n)
