"""Technical indicators as polars expressions, per symbol; conventions match the `ta` library (tested against it)."""
from __future__ import annotations

import polars as pl

ANNUALIZATION_DAYS = 365  # crypto trades every day


def sma(col: str, window: int) -> pl.Expr:
    return pl.col(col).rolling_mean(window, min_samples=window)


def ema(col: str | pl.Expr, span: int) -> pl.Expr:
    """Recursive EMA (pandas ewm(span, adjust=False)); null until `span` observations exist."""
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.ewm_mean(span=span, adjust=False, min_samples=span)


def wilder(expr: pl.Expr, window: int) -> pl.Expr:
    """Wilder smoothing seeded with the simple mean of the first `window` values (as ta's ATR)."""
    idx = pl.int_range(pl.len())
    seeded = (
        pl.when(idx < window - 1)
        .then(None)
        .when(idx == window - 1)
        .then(expr.rolling_mean(window, min_samples=window))
        .otherwise(expr)
    )
    return seeded.ewm_mean(alpha=1 / window, adjust=False, ignore_nulls=True)


def rsi(col: str = "close", window: int = 14) -> pl.Expr:
    """Wilder RSI as `ta.momentum.RSIIndicator`: ewm(alpha=1/window) of gains and losses."""
    diff = pl.col(col).diff()
    up = diff.clip(lower_bound=0).fill_null(0.0)
    down = (-diff).clip(lower_bound=0).fill_null(0.0)
    avg_up = up.ewm_mean(alpha=1 / window, adjust=False, min_samples=window)
    avg_down = down.ewm_mean(alpha=1 / window, adjust=False, min_samples=window)
    return pl.when(avg_down == 0).then(100.0).otherwise(100 - 100 / (1 + avg_up / avg_down))


def true_range() -> pl.Expr:
    prev = pl.col("close").shift(1)
    return pl.max_horizontal(pl.col("high"), prev) - pl.min_horizontal(pl.col("low"), prev)


def atr(window: int = 14) -> pl.Expr:
    return wilder(true_range(), window)


def bollinger(col: str = "close", window: int = 20, k: float = 2.0) -> dict[str, pl.Expr]:
    """Middle, upper, lower bands (population std, as ta) and %b."""
    mid = sma(col, window)
    std = pl.col(col).rolling_std(window, min_samples=window, ddof=0)
    upper, lower = mid + k * std, mid - k * std
    return {"bb_mid": mid, "bb_upper": upper, "bb_lower": lower, "bb_pctb": (pl.col(col) - lower) / (upper - lower)}


def macd(col: str = "close", fast: int = 12, slow: int = 26, signal: int = 9) -> dict[str, pl.Expr]:
    line = ema(col, fast) - ema(col, slow)
    sig = ema(line, signal)
    return {"macd": line, "macd_signal": sig, "macd_hist": line - sig}


def log_return(col: str = "close") -> pl.Expr:
    return (pl.col(col) / pl.col(col).shift(1)).log()


def rolling_volatility(window: int, returns: str = "log_return") -> pl.Expr:
    """Annualized rolling volatility of daily log returns: sample std × √365."""
    return pl.col(returns).rolling_std(window, min_samples=window) * ANNUALIZATION_DAYS**0.5


def compute_features(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Daily features per symbol from an OHLCV frame (rows need not be sorted; gaps are not filled)."""
    frame = ohlcv.sort("symbol", "date")
    exprs: dict[str, pl.Expr] = {
        "log_return": log_return(),
        "sma_20": sma("close", 20),
        "sma_50": sma("close", 50),
        "sma_200": sma("close", 200),
        "ema_12": ema("close", 12),
        "ema_26": ema("close", 26),
        **macd(),
        "rsi_14": rsi(),
        **bollinger(),
        "atr_14": atr(14),
    }
    out = frame.with_columns(**{name: e.over("symbol") for name, e in exprs.items()})
    out = out.with_columns(
        vol_30=rolling_volatility(30).over("symbol"),
        vol_90=rolling_volatility(90).over("symbol"),
    )
    keep = ["symbol", "date", "close", "volume_brl"] if "volume_brl" in out.columns else ["symbol", "date", "close"]
    return out.select(*keep, *exprs.keys(), "vol_30", "vol_90")
