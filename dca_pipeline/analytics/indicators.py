"""Technical indicators as polars expressions, per symbol; conventions match the `ta` library (tested against it)."""
from __future__ import annotations

import polars as pl

FEATURE_WINDOW_DAYS = 400  # daily features are computed on this many days ending on the day (SMA 200, 90-day vol)

ANNUALIZATION_DAYS = 365  # crypto trades every day


def ema(col: str | pl.Expr, span: int) -> pl.Expr:
    """Recursive EMA (pandas ewm(span, adjust=False)); null until `span` observations exist."""
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.ewm_mean(span=span, adjust=False, min_samples=span)


def log_return(col: str = "close") -> pl.Expr:
    return (pl.col(col) / pl.col(col).shift(1)).log()


def rolling_volatility(window: int, returns: str = "log_return") -> pl.Expr:
    """Annualized rolling volatility of daily log returns: sample std × √365."""
    return pl.col(returns).rolling_std(window, min_samples=window) * ANNUALIZATION_DAYS**0.5


INDICATOR_COLUMNS = (
    "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "adx_14", "plus_di_14",
    "minus_di_14", "rsi_14", "stoch_k", "stoch_d", "williams_r_14", "roc_12", "bb_mid", "bb_upper", "bb_lower",
    "bb_pctb", "bb_width", "atr_14", "vwap_14", "obv", "adl",
)


def _masked(expr: pl.Expr, warmup: int) -> pl.Expr:
    """`expr` computed over the whole symbol-sorted column, nulled on each symbol's first `warmup` rows.

    Rolling windows and shifts that reach back into the previous symbol only touch those rows, so the
    result equals a per-symbol computation without paying for a group-by per expression.
    """
    return pl.when(pl.col("_pos") >= warmup).then(expr)


def _wilder_lead(expr: pl.Expr, window: int, lead: int) -> pl.Expr:
    """Wilder smoothing (ta's ATR/ADX convention) of a series whose first `lead` rows per symbol are null:
    seeded with the mean of the first `window` values, then S_t = S_{t-1} + (x_t − S_{t-1}) / window."""
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
