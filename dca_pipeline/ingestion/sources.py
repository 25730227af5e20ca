"""Market data sources: the offline replay of the bundled history, and Mercado Bitcoin through ccxt."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Protocol

import polars as pl

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.fx import daily_fx, usd_bars_to_brl

FX_LOOKBACK_DAYS = 10  # long enough to bridge a weekend plus a run of holidays


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


class ReplaySource:
    """Serves the bundled real history as if it were live: USD bars converted at that day's USD/BRL."""

    name = "replay"

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        published = bundle.usd_brl_published().filter(pl.col("date") <= end)
        return daily_fx(published, start, end)

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = bundle.ohlcv_usd().filter(pl.col("date").is_between(start, end))
        if bars.is_empty():
            return _empty_ohlcv()
        fx = self.fetch_fx_usd_brl(start, end)
        return usd_bars_to_brl(bars, fx)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        snaps = bundle.market_cap_snapshots().filter(pl.col("snapshot_date") <= as_of)
        if snaps.is_empty():
            raise ValueError(f"no market-cap snapshot published on or before {as_of}")
        latest = snaps["snapshot_date"].max()
        return snaps.filter(pl.col("snapshot_date") == latest).with_columns(
            (pl.col("base") + "/BRL").alias("symbol")
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
        """First and last bar dates of the bundle."""
        dates = bundle.ohlcv_usd()["date"]
        return dates.min(), dates.max()


class CcxtSource:
    """Mercado Bitcoin daily candles through ccxt (network; opt-in with `source: ccxt`).

    USD/BRL and market caps have no live connector yet: they come from the bundled reference data, and
    anything past its end is refused with a clear error rather than guessed.
    """

    name = "ccxt"

    def __init__(self, exchange: object | None = None, quote: str = "BRL") -> None:
        if exchange is None:
            import ccxt  # heavy import, only when live data is asked for

            exchange = ccxt.mercado({"enableRateLimit": True})
        self.exchange = exchange
        self.quote = quote
        self._replay = ReplaySource()

    def _symbols(self) -> list[str]:
        markets = self.exchange.load_markets()
        return sorted(s for s, m in markets.items() if m.get("quote") == self.quote and m.get("active", True))

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        since = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp() * 1000)
        limit = (end - start).days + 1
        rows: list[dict] = []
        for symbol in self._symbols():
            for ts, o, h, l, c, v in self.exchange.fetch_ohlcv(symbol, "1d", since=since, limit=limit):
                day = datetime.fromtimestamp(ts / 1000, tz=timezone.utc).date()
                if start <= day <= end:
                    rows.append({"symbol": symbol, "date": day, "open": o, "high": h, "low": l, "close": c, "volume": v})
        if not rows:
            return _empty_ohlcv()
        frame = pl.DataFrame(rows).with_columns(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume"))
        return frame.with_columns((pl.col("volume") * pl.col("close")).alias("volume_brl")).sort("symbol", "date")

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        return self._replay.fetch_fx_usd_brl(start, end)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        return self._replay.fetch_market_caps(as_of)

    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        days = pl.date_range(start, end, "1d", eager=True).to_list()
        pairs = [(s, d) for s in self._symbols() for d in days]
        return pl.DataFrame(pairs, schema={"symbol": pl.String, "date": pl.Date}, orient="row")


def _empty_ohlcv() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "symbol": pl.String, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
            "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64, "volume_brl": pl.Float64,
        }
    )

