"""Technical indicators per symbol: the suite (`compute_indicators`, compiled kernels in `indicator_kernels`)
with the `ta` library's conventions (tested against `ta`, TA-Lib and StockCharts), plus returns and volatility
as polars expressions."""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

FEATURE_WINDOW_DAYS = 400  # daily features are computed on this many days ending on the day (SMA 200, 90-day vol)

ANNUALIZATION_DAYS = 365  # crypto trades every day


def log_return(col: str = "close") -> pl.Expr:
    return (pl.col(col) / pl.col(col).shift(1)).log()


def rolling_volatility(window: int, returns: str = "log_return") -> pl.Expr:
    """Annualized rolling volatility of daily log returns: sample std × √365."""
    return pl.col(returns).rolling_std(window, min_samples=window) * ANNUALIZATION_DAYS**0.5


from dca_pipeline.analytics.indicator_columns import INDICATOR_COLUMNS  # noqa: E402  (re-exported)
_PRICES = ("high", "low", "close", "volume")


def _symbol_starts(frame: pl.DataFrame) -> np.ndarray:
    """Row offsets where each run of equal symbols starts, ending with the row count."""
    if frame.is_empty():
        return np.zeros(1, dtype=np.int64)
    changes = frame.select((pl.col("symbol") != pl.col("symbol").shift()).arg_true())["symbol"].to_numpy()
    return np.concatenate(([0], changes, [frame.height])).astype(np.int64)


def _sorted_by_symbol_and_date(frame: pl.DataFrame, starts: np.ndarray) -> bool:
    """Whether each symbol is one run, runs are in symbol order and dates never go back inside a run."""
    if frame.is_empty():
        return True
    firsts = frame["symbol"].gather(starts[:-1])
    if not (firsts.is_sorted() and firsts.n_unique() == firsts.len()):
        return False
    days = frame["date"].to_physical().to_numpy()
    backwards = np.flatnonzero(np.diff(days) < 0) + 1  # rows dated before the previous row
    return bool(np.isin(backwards, starts).all())


def _null_volume_masks(null: np.ndarray, vwap_warm: pa.Buffer) -> dict[str, pa.Buffer]:
    """Validity where volume is missing (it counts as 0 in the kernels): OBV and A/D are null on that row
    and go on from the previous total; VWAP is null while the row is in its 14-bar window."""
    seen = np.cumsum(null)
    in_window = seen - np.concatenate((np.zeros(14, seen.dtype), seen[:-14]))[: seen.size]
    warm = np.unpackbits(np.frombuffer(vwap_warm, np.uint8), count=null.size, bitorder="little").astype(bool)
    pack = lambda ok: pa.py_buffer(np.packbits(ok, bitorder="little"))  # noqa: E731
    return {"obv": pack(~null), "adl": pack(~null), "vwap_14": pack(warm & (in_window == 0))}


def compute_indicators(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """The OHLCV frame (symbol, date, open, high, low, close, volume) sorted by symbol and date, with every
    indicator column added; values are null during each indicator's warm-up. All symbols in one pass.

    Conventions are the `ta` library's (checked against `ta`, TA-Lib and the StockCharts sheets):
    SMA 20/50/200; EMA 12/26 = ewm(span, adjust=False) from the first close, null until `span` closes;
    MACD 12/26/9 (signal = EMA 9 of MACD from its first value); RSI 14 = Wilder-weighted (alpha 1/14) mean
    gain/loss from the first close; ATR 14 and ADX/±DI 14 = Wilder smoothing seeded with the mean of the first
    14 values; stochastic %K 14 / %D 3, Williams %R 14; ROC 12 in percent; Bollinger 20 with 2 population σ,
    %B and width in percent of the middle band; VWAP 14 of the typical price; OBV (a flat close adds volume);
    accumulation/distribution (a bar with high == low adds nothing).

    One compiled pass per symbol (`indicator_kernels`, parallel over symbols). Symbol, date, high, low and close
    must be non-null (quarantine bad rows first); a missing volume nulls that row's OBV and A/D and the VWAP
    windows that contain it.
    """
    from dca_pipeline.analytics import indicator_kernels as kernels

    missing = [c for c in ("symbol", "date", *_PRICES) if c not in ohlcv.columns]
    if missing:
        raise ValueError(f"compute_indicators needs columns {missing} (has {ohlcv.columns})")
    nulls = {c: ohlcv[c].null_count() for c in ("symbol", "date", "high", "low", "close") if ohlcv[c].null_count()}
    if nulls:
        raise ValueError(f"compute_indicators needs non-null symbol, date and prices; null counts: {nulls}")
    frame, starts = ohlcv, _symbol_starts(ohlcv)
    if not _sorted_by_symbol_and_date(frame, starts):  # sorting costs more than the whole suite: skip it if we can
        frame = ohlcv.sort("symbol", "date")
        starts = _symbol_starts(frame)
    h, l, c, v = (  # noqa: E741
        np.ascontiguousarray(frame[col].cast(pl.Float64).fill_null(0.0).to_numpy()) for col in _PRICES
    )
    n = frame.height
    values = kernels.suite(h, l, c, v, starts)
    warmups = np.unique(kernels.WARMUP)
    bits = {w: pa.py_buffer(b) for w, b in zip(warmups, kernels.validity(starts, warmups, n))}
    masks = {k: bits[w] if w else None for k, w in zip(INDICATOR_COLUMNS, kernels.WARMUP)}
    if frame["volume"].null_count():
        masks.update(_null_volume_masks(frame["volume"].is_null().to_numpy(), masks["vwap_14"]))
    arrays = [pa.Array.from_buffers(pa.float64(), n, [masks[k], pa.py_buffer(values[i])])
              for i, k in enumerate(INDICATOR_COLUMNS)]
    indicators = pl.from_arrow(pa.table(arrays, names=list(kernels.COLUMNS)))
    kept = [col for col in ohlcv.columns if col not in INDICATOR_COLUMNS]
    return frame.select(kept).hstack(indicators)


def compute_features(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Daily features per symbol: all indicators plus log return and 30/90-day annualized volatility."""
    out = compute_indicators(ohlcv).with_columns(log_return=log_return().over("symbol"))
    out = out.with_columns(
        vol_30=rolling_volatility(30).over("symbol"),
        vol_90=rolling_volatility(90).over("symbol"),
    )
    keep = ["symbol", "date", "close"] + (["volume_brl"] if "volume_brl" in out.columns else [])
    return out.select(*keep, "log_return", *INDICATOR_COLUMNS, "vol_30", "vol_90")


def volatility_cone(
    ohlcv: pl.DataFrame, horizons: tuple[int, ...] = (30, 60, 90, 180), quantiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
) -> pl.DataFrame:
    """Per symbol and horizon: quantiles of the rolling realized volatility over the history, and today's value.

    Tells whether current volatility is high or low for that coin at each horizon (annualized with √365).
    """
    frame = ohlcv.sort("symbol", "date").with_columns(log_return=log_return().over("symbol"))
    parts = []
    for h in horizons:
        vols = frame.with_columns(vol=rolling_volatility(h).over("symbol")).drop_nulls("vol")
        parts.append(
            vols.group_by("symbol").agg(
                pl.lit(h).alias("horizon"),
                *[pl.col("vol").quantile(q, interpolation="linear").alias(f"p{int(q * 100)}") for q in quantiles],
                pl.col("vol").last().alias("current"),
                pl.len().alias("observations"),
            )
        )
    return pl.concat(parts).sort("symbol", "horizon")
