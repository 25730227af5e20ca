"""Market data sources: the offline replay of the bundled history; live ccxt sources live in ccxt_source.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Protocol

import polars as pl

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.errors import DataNotAvailable, DataRangeError, SourceError
from dca_pipeline.ingestion.fx import daily_fx, usd_bars_to_brl

OHLCV_SCHEMA = {  # candles as every source returns them (timestamped, UTC)
    "symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "open": pl.Float64, "high": pl.Float64,
    "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64, "volume_brl": pl.Float64,
}

FX_LOOKBACK_DAYS = 10  # long enough to bridge a weekend plus a run of holidays
SNAPSHOT_VALID_DAYS = 31  # a monthly snapshot stands for the month it opens, not beyond


class MarketDataSource(Protocol):
    """What the pipeline needs from a market: daily BRL bars, USD/BRL, market caps, the listed universe."""

    name: str

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        """Every listed symbol's daily bar for start <= date <= end (OHLCV contract, BRL)."""
        ...

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        """USD/BRL for each calendar day in [start, end], forward-filled over days without a publication."""
        ...

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        """The latest market-cap snapshot published on or before `as_of` (point in time)."""
        ...

    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        """(symbol, date) pairs the market lists in [start, end]: what a complete ingestion must contain."""
        ...

    def fetch_ohlcv(
        self, timeframe: str, start: datetime, end: datetime, symbols: list[str] | None = None
    ) -> pl.DataFrame:
        """Bars ("1m"|"5m"|"1h"|"1d") opening in [start, end): symbol, ts (UTC bar open), open, high, low, close,
        volume (base units), volume_brl; sorted by symbol, ts, no duplicates."""
        ...

    def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
        """Top `depth` levels: symbol, ts, side ('bid'|'ask'), level (1 = best), price, amount."""
        ...

    def fetch_trades(self, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
        """Trades in [start, end): symbol, ts, trade_id (str), side, price, amount."""
        ...

    def markets(self) -> pl.DataFrame:
        """symbol, base, quote, active, price_tick, amount_step, min_amount, min_cost_brl, listed_at (nullable)."""
        ...


class ReplaySource:
    """Serves the bundled real history as if it were live: USD bars converted at that day's USD/BRL."""

    name = "replay"

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        published = bundle.usd_brl_published().filter(pl.col("date") <= end)
        return daily_fx(published, start, end)

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        """BRL bars in [start, end]; a range wholly outside the bundle's bars raises DataRangeError (a range partly
        outside returns what exists)."""
        first, last = self.data_range()
        if end < first or start > last:
            raise DataRangeError("bundled daily bars", (first, last), (start, end))
        bars = bundle.ohlcv_usd().filter(pl.col("date").is_between(start, end))
        if bars.is_empty():
            return _empty_ohlcv()
        fx = self.fetch_fx_usd_brl(start, end)
        return usd_bars_to_brl(bars, fx)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        """The latest monthly universe snapshot on or before `as_of`: snapshot_date, symbol (BASE/BRL), base, rank,
        market_cap_usd, volume_24h_usd, price_usd. Before the first snapshot, or more than a month after the last
        one (the snapshot would be stale), raises DataRangeError naming the snapshots' range."""
        all_snaps = bundle.universe_snapshots()
        first, last = all_snaps["snapshot_date"].min(), all_snaps["snapshot_date"].max()
        if as_of < first or as_of > last + timedelta(days=SNAPSHOT_VALID_DAYS):
            raise DataRangeError(
                f"bundled monthly universe snapshots (each valid {SNAPSHOT_VALID_DAYS} days)", (first, last), (as_of, as_of)
            )
        snaps = all_snaps.filter(pl.col("snapshot_date") <= as_of)
        latest = snaps["snapshot_date"].max()
        return snaps.filter(pl.col("snapshot_date") == latest).select(
            "snapshot_date", (pl.col("base") + "/BRL").alias("symbol"), "base", "rank",
            "market_cap_usd", "volume_24h_usd", "price_usd",
        )

    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        spans = bundle.ohlcv_usd().group_by("base").agg(
            pl.col("date").min().alias("first"), pl.col("date").max().alias("last")
        )
        days = pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
        return (
            spans.join(days, how="cross")
            .filter(pl.col("date").is_between(pl.col("first"), pl.col("last")))
            .select((pl.col("base") + "/BRL").alias("symbol"), "date")
            .sort("symbol", "date")
        )

    def data_range(self) -> tuple[date, date]:
        """First and last bar dates of the bundle (any coin)."""
        dates = bundle.ohlcv_usd()["date"]
        return dates.min(), dates.max()

    def fetch_ohlcv(
        self, timeframe: str, start: date | datetime, end: date | datetime, symbols: list[str] | None = None
    ) -> pl.DataFrame:
        """Daily bundle bars opening in [start, end) (ts = midnight UTC); finer timeframes are not bundled."""
        if timeframe != "1d":
            self._not_bundled(f"{timeframe} candles", ",".join(symbols or []) or None, start, end)
        start_ts, end_ts = _as_utc(start), _as_utc(end)
        last_day = (end_ts - timedelta(microseconds=1)).date()
        if last_day < start_ts.date():
            return _empty_ohlcv_ts()
        bars = self.fetch_ohlcv_1d(start_ts.date(), last_day)
        if symbols is not None:
            bars = bars.filter(pl.col("symbol").is_in(symbols))
        bars = bars.with_columns(pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"))
        bars = bars.filter((pl.col("ts") >= start_ts) & (pl.col("ts") < end_ts))
        return bars.select("symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl").sort("symbol", "ts")

    def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
        self._not_bundled("order book", symbol)

    def fetch_trades(self, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
        self._not_bundled("trades", symbol, start, end)

    def markets(self) -> pl.DataFrame:
        """Bundled symbols, listed from their first bar; `delisted_at` is the last bar if it ends before the bundle."""
        bars = bundle.ohlcv_usd()
        last_bundle_day = bars["date"].max()
        spans = bars.group_by("base").agg(pl.col("date").min().alias("first"), pl.col("date").max().alias("last"))
        to_ts = lambda c: pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")  # noqa: E731
        return spans.select(
            (pl.col("base") + "/BRL").alias("symbol"),
            "base",
            pl.lit("BRL").alias("quote"),
            (pl.col("last") == last_bundle_day).alias("active"),
            *(pl.lit(None, pl.Float64).alias(c) for c in ("price_tick", "amount_step", "min_amount", "min_cost_brl")),
            to_ts("first").alias("listed_at"),
            pl.when(pl.col("last") < last_bundle_day).then(to_ts("last")).alias("delisted_at"),
        ).sort("symbol")

    def _not_bundled(self, what: str, symbol: str | None = None, start=None, end=None):  # noqa: ANN001, ANN202
        raise DataNotAvailable(
            self.name, what, symbol, start, end,
            "the bundled replay has only daily bars (no 1m/1h candles, order books or trades); use source: ccxt",
        )


def _as_utc(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _empty_ohlcv_ts() -> pl.DataFrame:
    return pl.DataFrame(schema=OHLCV_SCHEMA)


def _empty_ohlcv() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "symbol": pl.String, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
            "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64, "volume_brl": pl.Float64,
        }
    )



__all__ = ["DataNotAvailable", "MarketDataSource", "OHLCV_SCHEMA", "ReplaySource", "SourceError"]
