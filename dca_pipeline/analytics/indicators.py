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
    """Wilder smoothing seeded with the simple mean of the first `window` non-null values (as ta's ATR/ADX)."""
    n_valid = expr.is_not_null().cum_sum()
    first_full = (n_valid == window) & (n_valid.shift(1).fill_null(0) < window)
    seeded = (
        pl.when(n_valid < window)
        .then(None)
        .when(first_full)
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


def wilder_sum(expr: pl.Expr, window: int) -> pl.Expr:
    """Wilder's running sum S_t = S_{t-1} − S_{t-1}/n + x_t, seeded with the sum of the first n values."""
    return wilder(expr, window) * window


def adx(window: int = 14) -> dict[str, pl.Expr]:
    """Average directional index with +DI/−DI (Wilder), as StockCharts and `ta.trend.ADXIndicator`."""
    up = pl.col("high").diff()
    down = -pl.col("low").diff()
    plus_dm = pl.when((up > down) & (up > 0)).then(up).otherwise(0.0)
    minus_dm = pl.when((down > up) & (down > 0)).then(down).otherwise(0.0)
    # the first bar has no previous bar: its TR is high − low and its directional moves are unknown
    tr = true_range()
    idx = pl.int_range(pl.len())
    tr_s = wilder_sum(pl.when(idx == 0).then(None).otherwise(tr), window)
    plus_di = 100 * wilder_sum(pl.when(idx == 0).then(None).otherwise(plus_dm), window) / tr_s
    minus_di = 100 * wilder_sum(pl.when(idx == 0).then(None).otherwise(minus_dm), window) / tr_s
    dx = 100 * (plus_di - minus_di).abs() / (plus_di + minus_di)
    return {f"adx_{window}": wilder(dx, window), f"plus_di_{window}": plus_di, f"minus_di_{window}": minus_di}


def stochastic(window: int = 14, smooth: int = 3) -> dict[str, pl.Expr]:
    low = pl.col("low").rolling_min(window, min_samples=window)
    high = pl.col("high").rolling_max(window, min_samples=window)
    k = 100 * (pl.col("close") - low) / (high - low)
    return {"stoch_k": k, "stoch_d": k.rolling_mean(smooth, min_samples=smooth)}


def williams_r(window: int = 14) -> pl.Expr:
    high = pl.col("high").rolling_max(window, min_samples=window)
    low = pl.col("low").rolling_min(window, min_samples=window)
    return -100 * (high - pl.col("close")) / (high - low)


def rate_of_change(window: int = 12) -> pl.Expr:
    prev = pl.col("close").shift(window)
    return 100 * (pl.col("close") - prev) / prev


def vwap(window: int = 14) -> pl.Expr:
    """Rolling volume-weighted average of the typical price (high + low + close) / 3."""
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3
    return (typical * pl.col("volume")).rolling_sum(window, min_samples=window) / pl.col("volume").rolling_sum(
        window, min_samples=window
    )


def on_balance_volume() -> pl.Expr:
    """Cumulative volume signed by the close's direction (a flat or first bar counts as up, as `ta`)."""
    down = pl.col("close") < pl.col("close").shift(1)
    return pl.when(down).then(-pl.col("volume")).otherwise(pl.col("volume")).cum_sum()


def accumulation_distribution() -> pl.Expr:
    """Cumulative money-flow volume: CLV × volume, CLV = ((c − l) − (h − c)) / (h − l), 0 when h = l."""
    rng = pl.col("high") - pl.col("low")
    clv = pl.when(rng != 0).then(((pl.col("close") - pl.col("low")) - (pl.col("high") - pl.col("close"))) / rng).otherwise(0.0)
    return (clv * pl.col("volume")).cum_sum()


def indicator_exprs() -> dict[str, pl.Expr]:
    """Every per-symbol indicator of `compute_indicators`, by output column."""
    bands = bollinger()
    return {
        "sma_20": sma("close", 20),
        "sma_50": sma("close", 50),
        "sma_200": sma("close", 200),
        "ema_12": ema("close", 12),
        "ema_26": ema("close", 26),
        **macd(),
        **adx(14),
        "rsi_14": rsi(),
        **stochastic(),
        "williams_r_14": williams_r(14),
        "roc_12": rate_of_change(12),
        **bands,
        "bb_width": 100 * (bands["bb_upper"] - bands["bb_lower"]) / bands["bb_mid"],
        "atr_14": atr(14),
        "vwap_14": vwap(14),
        "obv": on_balance_volume(),
        "adl": accumulation_distribution(),
    }


def compute_indicators(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """The OHLCV frame (symbol, date, open, high, low, close, volume) sorted by symbol and date, with every
    indicator column added; values are null during each indicator's warm-up. All symbols in one pass.

    ADX is computed in stages (directional moves, then smoothed sums, then DX) so that polars evaluates
    each intermediate once instead of re-deriving it inside nested window expressions.
    """
    frame = ohlcv.sort("symbol", "date")
    exprs = indicator_exprs()
    adx_cols = [c for c in exprs if c.startswith(("adx_", "plus_di_", "minus_di_"))]
    window = int(adx_cols[0].rsplit("_", 1)[1])
    up, down = pl.col("high").diff(), -pl.col("low").diff()
    first = pl.int_range(pl.len()) == 0
    staged = frame.with_columns(
        _tr=pl.when(first).then(None).otherwise(true_range()).over("symbol"),
        _pdm=pl.when(first).then(None).when((up > down) & (up > 0)).then(up).otherwise(0.0).over("symbol"),
        _mdm=pl.when(first).then(None).when((down > up) & (down > 0)).then(down).otherwise(0.0).over("symbol"),
    ).with_columns(
        _trs=wilder_sum(pl.col("_tr"), window).over("symbol"),
        _pdms=wilder_sum(pl.col("_pdm"), window).over("symbol"),
        _mdms=wilder_sum(pl.col("_mdm"), window).over("symbol"),
    ).with_columns(
        (100 * pl.col("_pdms") / pl.col("_trs")).alias(f"plus_di_{window}"),
        (100 * pl.col("_mdms") / pl.col("_trs")).alias(f"minus_di_{window}"),
    ).with_columns(
        _dx=(100 * (pl.col(f"plus_di_{window}") - pl.col(f"minus_di_{window}")).abs()
             / (pl.col(f"plus_di_{window}") + pl.col(f"minus_di_{window}")))
    ).with_columns(wilder(pl.col("_dx"), window).over("symbol").alias(f"adx_{window}"))
    others = {name: e.over("symbol") for name, e in exprs.items() if name not in adx_cols}
    out = staged.with_columns(**others).drop("_tr", "_pdm", "_mdm", "_trs", "_pdms", "_mdms", "_dx")
    return out.select(*frame.columns, *exprs.keys())


def compute_features(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Daily features per symbol: all indicators plus log return and 30/90-day annualized volatility."""
    out = compute_indicators(ohlcv).with_columns(log_return=log_return().over("symbol"))
    out = out.with_columns(
        vol_30=rolling_volatility(30).over("symbol"),
        vol_90=rolling_volatility(90).over("symbol"),
    )
    keep = ["symbol", "date", "close"] + (["volume_brl"] if "volume_brl" in out.columns else [])
    return out.select(*keep, "log_return", *indicator_exprs().keys(), "vol_30", "vol_90")


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
