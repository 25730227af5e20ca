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


INDICATOR_COLUMNS = (
    "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "adx_14", "plus_di_14",
    "minus_di_14", "rsi_14", "stoch_k", "stoch_d", "williams_r_14", "roc_12", "bb_mid", "bb_upper", "bb_lower",
    "bb_pctb", "bb_width", "atr_14", "vwap_14", "obv", "adl",
)


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


def _masked(expr: pl.Expr, warmup: int) -> pl.Expr:
    """`expr` computed over the whole symbol-sorted column, nulled on each symbol's first `warmup` rows.

    Rolling windows and shifts that reach back into the previous symbol only touch those rows, so the
    result equals a per-symbol computation without paying for a group-by per expression.
    """
    return pl.when(pl.col("_pos") >= warmup).then(expr)


def _wilder_lead(expr: pl.Expr, window: int, lead: int) -> pl.Expr:
    """`wilder` for a series whose first `lead` rows per symbol are null: the seed position is known, so only
    the recursive smoothing itself needs a per-symbol window (this is the hot path of ADX and ATR)."""
    seed_at = lead + window - 1
    seeded = (
        pl.when(pl.col("_pos") < seed_at)
        .then(None)
        .when(pl.col("_pos") == seed_at)
        .then(expr.rolling_mean(window))
        .otherwise(expr)
    )
    return seeded.ewm_mean(alpha=1 / window, adjust=False, ignore_nulls=True).over("symbol")


def compute_indicators(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """The OHLCV frame (symbol, date, open, high, low, close, volume) sorted by symbol and date, with every
    indicator column added; values are null during each indicator's warm-up. All symbols in one pass.

    Fixed-window indicators run over the whole column with per-symbol warm-up masks; recursive ones (EMA,
    Wilder smoothing, cumulative sums) run per symbol. Intermediates are computed once, in stages.
    """
    c, h, l, v = pl.col("close"), pl.col("high"), pl.col("low"), pl.col("volume")
    prev = _masked(c.shift(1), 1)
    up, down = _masked(h.diff(), 1), _masked(-l.diff(), 1)
    lf = ohlcv.sort("symbol", "date").lazy().with_columns(_pos=pl.int_range(pl.len()).over("symbol"))
    lf = lf.with_columns(
        _prev=prev,
        _gain=_masked(c.diff().clip(lower_bound=0), 1).fill_null(0.0),
        _loss=_masked((-c.diff()).clip(lower_bound=0), 1).fill_null(0.0),
        _pdm=pl.when((up > down) & (up > 0)).then(up).when(up.is_not_null()).then(0.0),
        _mdm=pl.when((down > up) & (down > 0)).then(down).when(down.is_not_null()).then(0.0),
        _hh=_masked(h.rolling_max(14), 13),
        _ll=_masked(l.rolling_min(14), 13),
        _mid=_masked(c.rolling_mean(20), 19),
        _std=_masked(c.rolling_std(20, ddof=0), 19),
        sma_20=_masked(c.rolling_mean(20), 19),
        sma_50=_masked(c.rolling_mean(50), 49),
        sma_200=_masked(c.rolling_mean(200), 199),
        roc_12=_masked(100 * (c - c.shift(12)) / c.shift(12), 12),
        vwap_14=_masked(((h + l + c) / 3 * v).rolling_sum(14) / v.rolling_sum(14), 13),
        obv=pl.when(c < c.shift(1)).then(-v).otherwise(v).cum_sum().over("symbol"),
        adl=(
            pl.when(h != l).then(((c - l) - (h - c)) / (h - l)).otherwise(0.0) * v
        ).cum_sum().over("symbol"),
    )
    tr = pl.max_horizontal(h, pl.col("_prev")) - pl.min_horizontal(l, pl.col("_prev"))
    lf = lf.with_columns(
        _tr=tr,
        _trd=pl.when(pl.col("_pos") >= 1).then(tr),
        ema_12=ema("close", 12).over("symbol"),
        ema_26=ema("close", 26).over("symbol"),
        _avg_gain=pl.col("_gain").ewm_mean(alpha=1 / 14, adjust=False, min_samples=14).over("symbol"),
        _avg_loss=pl.col("_loss").ewm_mean(alpha=1 / 14, adjust=False, min_samples=14).over("symbol"),
        stoch_k=100 * (c - pl.col("_ll")) / (pl.col("_hh") - pl.col("_ll")),
        williams_r_14=-100 * (pl.col("_hh") - c) / (pl.col("_hh") - pl.col("_ll")),
        bb_mid=pl.col("_mid"),
        bb_upper=pl.col("_mid") + 2 * pl.col("_std"),
        bb_lower=pl.col("_mid") - 2 * pl.col("_std"),
    )
    lf = lf.with_columns(
        macd=pl.col("ema_12") - pl.col("ema_26"),
        rsi_14=pl.when(pl.col("_avg_loss") == 0).then(100.0).otherwise(100 - 100 / (1 + pl.col("_avg_gain") / pl.col("_avg_loss"))),
        stoch_d=_masked(pl.col("stoch_k").rolling_mean(3), 15),
        bb_pctb=(c - pl.col("bb_lower")) / (pl.col("bb_upper") - pl.col("bb_lower")),
        bb_width=100 * (pl.col("bb_upper") - pl.col("bb_lower")) / pl.col("bb_mid"),
        atr_14=_wilder_lead(pl.col("_tr"), 14, 0),
        _trs=_wilder_lead(pl.col("_trd"), 14, 1) * 14,
        _pdms=_wilder_lead(pl.col("_pdm"), 14, 1) * 14,
        _mdms=_wilder_lead(pl.col("_mdm"), 14, 1) * 14,
    )
    lf = lf.with_columns(
        macd_signal=ema(pl.col("macd"), 9).over("symbol"),
        plus_di_14=100 * pl.col("_pdms") / pl.col("_trs"),
        minus_di_14=100 * pl.col("_mdms") / pl.col("_trs"),
    )
    lf = lf.with_columns(
        macd_hist=pl.col("macd") - pl.col("macd_signal"),
        _dx=100 * (pl.col("plus_di_14") - pl.col("minus_di_14")).abs() / (pl.col("plus_di_14") + pl.col("minus_di_14")),
    ).with_columns(adx_14=_wilder_lead(pl.col("_dx"), 14, 14))
    return lf.select(*ohlcv.columns, *INDICATOR_COLUMNS).collect(engine="in-memory")


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
