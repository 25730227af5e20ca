"""Data-quality gates beyond row validity: completeness and gap filling, staleness, cross-source prices,
statistical anomalies, and row rules for order books and trades. Pure polars functions (no I/O)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl

TIMEFRAMES: dict[str, timedelta] = {
    "1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1),
}
MAD_TO_SIGMA = 0.6745  # a normal distribution's MAD is 0.6745 sigma: robust z = 0.6745 (x - median) / MAD
TS = pl.Datetime("us", "UTC")


def bar_length(timeframe: str) -> timedelta:
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; allowed: {sorted(TIMEFRAMES)}") from None


def resample_ohlcv(bars: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """Bars (symbol, ts, open, high, low, close, volume, volume_brl) of a finer timeframe aggregated into
    `timeframe` buckets aligned to UTC multiples of its length: first open, max high, min low, last close, summed
    volumes (a bucket's BRL volume is the sum of its bars'). A bucket exists when at least one finer bar does (an
    exchange also omits bars without trades); completeness is judged later against the calendar."""
    every = bar_length(timeframe)
    if bars.is_empty():
        return bars
    out = (
        bars.sort("symbol", "ts")
        .group_by("symbol", pl.col("ts").dt.truncate(every).alias("ts"), maintain_order=True)
        .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
             pl.col("volume").sum(), pl.col("volume_brl").sum())
    )
    return out.select(bars.columns).sort("symbol", "ts")


def _utc(moment: datetime | date) -> datetime:
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def expected_bars(
    symbols: pl.DataFrame, start: datetime, end: datetime, timeframe: str, now: datetime | None = None
) -> pl.DataFrame:
    """The exchange calendar: (symbol, ts) of every bar opening in [start, end) while the symbol is listed.

    Crypto trades 24/7, so every bar time counts. `symbols` has `symbol` and optionally `listed_from` /
    `listed_until` (exclusive) datetimes or dates; bars not yet closed at `now` are not expected.
    """
    step = bar_length(timeframe)
    start, end = _utc(start), _utc(end)
    if now is not None:
        closed_until = _utc(now) - step  # last bar opening at or before this has closed
        end = min(end, closed_until + timedelta(microseconds=1))
    if end <= start or symbols.is_empty():
        return pl.DataFrame(schema={"symbol": pl.String, "ts": TS})
    times = pl.DataFrame({"ts": pl.datetime_range(start, end, step, closed="left", time_unit="us", eager=True)})
    times = times.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    grid = symbols.select("symbol", *[c for c in ("listed_from", "listed_until") if c in symbols.columns]).join(
        times, how="cross"
    )
    for col, keep in (("listed_from", pl.col("ts") >= pl.col("listed_from")), ("listed_until", pl.col("ts") < pl.col("listed_until"))):
        if col in grid.columns:
            grid = grid.with_columns(pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") if grid.schema[col] == pl.Date else pl.col(col).cast(TS))
            grid = grid.filter(pl.col(col).is_null() | keep)
    return grid.select("symbol", "ts").sort("symbol", "ts")


def find_gaps(bars: pl.DataFrame, expected: pl.DataFrame) -> pl.DataFrame:
    """Expected (symbol, ts) with no bar in `bars`."""
    return expected.join(bars.select("symbol", pl.col("ts").cast(TS)), on=["symbol", "ts"], how="anti").sort("symbol", "ts")


def fill_gaps(
    bars: pl.DataFrame, expected: pl.DataFrame, max_fill_bars: int, previous_close: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fill policy for intraday bars: a run of at most `max_fill_bars` missing bars gets open=high=low=close =
    the last known close (from `bars`, or `previous_close` [symbol, close] before the window), volume 0 and
    `filled=true`; longer runs, or gaps with no earlier close, stay missing. Returns (bars + filled, unfilled gaps)."""
    real = bars.with_columns(pl.col("ts").cast(TS), pl.lit(False).alias("filled"))
    gaps = find_gaps(real, expected)
    if gaps.is_empty():
        return real.sort("symbol", "ts"), gaps
    seed = previous_close if previous_close is not None else pl.DataFrame(schema={"symbol": pl.String, "close": pl.Float64})
    seed = seed.select("symbol", pl.col("close").cast(pl.Float64).alias("seed_close"))
    times = expected["ts"].unique().sort()
    step = times.diff().drop_nulls().min() if len(times) > 1 else timedelta(0)
    runs = gaps.sort("symbol", "ts").with_columns(
        ((pl.col("symbol") != pl.col("symbol").shift(1)) | (pl.col("ts") - pl.col("ts").shift(1) != step))
        .fill_null(True).cum_sum().alias("run")
    ).with_columns(pl.len().over("run").alias("run_length"))
    closes = real.select("symbol", "ts", pl.col("close").alias("last_close")).sort("ts")
    missing = (
        runs.sort("ts").join_asof(closes, on="ts", by="symbol", strategy="backward")
        .join(seed, on="symbol", how="left")
        .with_columns(pl.col("last_close").fill_null(pl.col("seed_close")))
    )
    fillable = missing.filter((pl.col("run_length") <= max_fill_bars) & pl.col("last_close").is_not_null())
    unfilled = missing.join(fillable.select("symbol", "ts"), on=["symbol", "ts"], how="anti").select("symbol", "ts")
    price = pl.col("last_close")
    filled = fillable.select(
        "symbol", "ts", price.alias("open"), price.alias("high"), price.alias("low"), price.alias("close"),
        pl.lit(0.0).alias("volume"), pl.lit(0.0).alias("volume_brl"), pl.lit(True).alias("filled"),
    )
    extra = [c for c in real.columns if c not in filled.columns]
    if "date" in extra:
        filled = filled.with_columns(pl.col("ts").dt.date().alias("date"))
    out = pl.concat([real, filled], how="diagonal_relaxed").sort("symbol", "ts")
    return out.select(real.columns), unfilled.sort("symbol", "ts")


def stale_symbols(
    bars: pl.DataFrame, symbols: list[str], as_of: datetime, timeframe: str, max_bars: int
) -> pl.DataFrame:
    """Symbols whose newest bar closed more than `max_bars` bar lengths before `as_of` (or that have none)."""
    step = bar_length(timeframe)
    as_of = _utc(as_of)
    last = bars.group_by("symbol").agg(pl.col("ts").cast(TS).max().alias("last_ts"))
    frame = pl.DataFrame({"symbol": symbols}, schema={"symbol": pl.String}).join(last, on="symbol", how="left")
    limit = step * max_bars
    frame = frame.with_columns(
        ((pl.lit(as_of).cast(TS) - (pl.col("last_ts") + step)).dt.total_seconds()).alias("age_seconds")
    )
    return frame.filter(pl.col("last_ts").is_null() | (pl.col("age_seconds") > limit.total_seconds())).sort("symbol")


def reference_prices_brl(usd_prices: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    """Reference BRL prices = USD price (e.g. CoinGecko) × that day's USD/BRL: (symbol, date, price_brl)."""
    return usd_prices.join(fx.select("date", "usd_brl"), on="date", how="inner").select(
        "symbol", "date", (pl.col("price_usd") * pl.col("usd_brl")).alias("price_brl")
    )


def cross_source_deviations(bars: pl.DataFrame, reference: pl.DataFrame, tolerance: float) -> pl.DataFrame:
    """Bars whose close differs from the reference BRL price by more than `tolerance` (fraction), with the deviation."""
    joined = bars.select("symbol", "date", "close").join(
        reference.select("symbol", "date", "price_brl"), on=["symbol", "date"], how="inner"
    )
    joined = joined.with_columns((pl.col("close") / pl.col("price_brl") - 1).abs().alias("deviation"))
    return joined.filter(pl.col("deviation") > tolerance).sort("symbol", "date")


def return_outliers(bars: pl.DataFrame, time_col: str, threshold: float) -> pl.DataFrame:
    """Bars whose log return is a robust outlier for its symbol: |0.6745 (r - median) / MAD| > threshold.

    Symbols whose returns have zero MAD (flat prices) are skipped rather than flagged."""
    rets = (
        bars.sort("symbol", time_col)
        .with_columns((pl.col("close").log() - pl.col("close").log().shift(1).over("symbol")).alias("log_return"))
        .filter(pl.col("log_return").is_not_null() & pl.col("log_return").is_finite())
    )
    stats = rets.with_columns(
        pl.col("log_return").median().over("symbol").alias("median"),
    ).with_columns((pl.col("log_return") - pl.col("median")).abs().median().over("symbol").alias("mad"))
    stats = stats.with_columns(
        pl.when(pl.col("mad") > 0).then(MAD_TO_SIGMA * (pl.col("log_return") - pl.col("median")) / pl.col("mad")).alias("robust_z")
    )
    return stats.filter(pl.col("robust_z").abs() > threshold).select("symbol", time_col, "close", "log_return", "robust_z")


def volume_spikes(bars: pl.DataFrame, time_col: str, factor: float) -> pl.DataFrame:
    """Bars whose volume exceeds `factor` × the symbol's median volume over the frame (median > 0)."""
    with_median = bars.with_columns(pl.col("volume").median().over("symbol").alias("median_volume"))
    return (
        with_median.filter((pl.col("median_volume") > 0) & (pl.col("volume") > factor * pl.col("median_volume")))
        .with_columns((pl.col("volume") / pl.col("median_volume")).alias("ratio"))
        .select("symbol", time_col, "volume", "median_volume", "ratio")
        .sort("symbol", time_col)
    )


def _positive_finite(name: str) -> pl.Expr:
    value = pl.col(name).cast(pl.Float64)
    return value.is_not_null() & value.is_finite() & (value > 0)


def split_valid_trades(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid trades unchanged, rejected with `reason`): keys present, side buy/sell, price and amount > 0,
    one row per (symbol, trade_id)."""
    reason = (
        pl.when(pl.any_horizontal([pl.col(c).is_null() for c in ("symbol", "ts", "trade_id")])).then(pl.lit("missing key"))
        .when(~pl.col("side").is_in(["buy", "sell"]).fill_null(False)).then(pl.lit("unknown side"))
        .when(~_positive_finite("price")).then(pl.lit("bad price"))
        .when(~_positive_finite("amount")).then(pl.lit("bad amount"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return _split(frame, reason, ("symbol", "trade_id"))


def split_valid_order_book(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid levels unchanged, rejected with `reason`): side bid/ask, level >= 1 (1 = best), price and amount > 0,
    one row per (symbol, ts, side, level)."""
    reason = (
        pl.when(pl.any_horizontal([pl.col(c).is_null() for c in ("symbol", "ts", "level")])).then(pl.lit("missing key"))
        .when(~pl.col("side").is_in(["bid", "ask"]).fill_null(False)).then(pl.lit("unknown side"))
        .when(pl.col("level") < 1).then(pl.lit("level below 1"))
        .when(~_positive_finite("price")).then(pl.lit("bad price"))
        .when(~_positive_finite("amount")).then(pl.lit("bad amount"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return _split(frame, reason, ("symbol", "ts", "side", "level"))


def crossed_books(book: pl.DataFrame) -> pl.DataFrame:
    """Snapshots whose best bid is at or above the best ask (a broken or stale book)."""
    best = book.group_by("symbol", "ts").agg(
        pl.col("price").filter(pl.col("side") == "bid").max().alias("best_bid"),
        pl.col("price").filter(pl.col("side") == "ask").min().alias("best_ask"),
    )
    return best.filter(pl.col("best_bid") >= pl.col("best_ask")).sort("symbol", "ts")


def _split(frame: pl.DataFrame, reason: pl.Expr, key: tuple[str, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    tagged = frame.with_columns(reason.alias("reason"))
    nth_valid = pl.col("reason").is_null().cast(pl.Int32).cum_sum().over(list(key))
    tagged = tagged.with_columns(
        pl.when(pl.col("reason").is_null() & (nth_valid > 1)).then(pl.lit("duplicate key")).otherwise(pl.col("reason")).alias("reason")
    )
    return tagged.filter(pl.col("reason").is_null()).drop("reason"), tagged.filter(pl.col("reason").is_not_null())
