"""CoinGecko market caps, volumes and prices (`/coins/markets`, `/coins/{id}/market_chart/range`).

Symbols map to CoinGecko ids through the bundled, tested `data/coingecko_ids.csv`. An optional API key comes
from $DCA_COINGECKO_API_KEY (demo key header) or $DCA_COINGECKO_PRO_API_KEY (pro header); it is sent only
as a request header, never logged or stored.
"""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import polars as pl

from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.http_json import JsonHttpClient
from dca_pipeline.paths import bundled_data_dir

PUBLIC_URL = "https://api.coingecko.com/api/v3"
PRO_URL = "https://pro-api.coingecko.com/api/v3"
MARKETS_SCHEMA = {
    "symbol": pl.String, "coingecko_id": pl.String, "vs_currency": pl.String, "price": pl.Float64,
    "market_cap": pl.Float64, "total_volume": pl.Float64, "last_updated": pl.Datetime("us", "UTC"),
}


def id_mapping() -> pl.DataFrame:
    """symbol (BASE/BRL), base, coingecko_id (null = explicitly unmapped), evidence."""
    return pl.read_csv(bundled_data_dir() / "coingecko_ids.csv", schema_overrides={"coingecko_id": pl.String})


def api_key_headers() -> dict[str, str]:
    """The CoinGecko key header from the environment (pro wins over demo), or none."""
    if os.environ.get("DCA_COINGECKO_PRO_API_KEY"):
        return {"x-cg-pro-api-key": os.environ["DCA_COINGECKO_PRO_API_KEY"]}
    if os.environ.get("DCA_COINGECKO_API_KEY"):
        return {"x-cg-demo-api-key": os.environ["DCA_COINGECKO_API_KEY"]}
    return {}


class CoinGeckoSource:
    """Market data by CoinGecko id, keyed back to the pipeline's BASE/BRL symbols."""

    name = "coingecko"

    def __init__(self, client: JsonHttpClient | None = None, base_url: str | None = None) -> None:
        headers = api_key_headers()
        self.client = client or JsonHttpClient(self.name)
        self.client.headers.update(headers)
        default = PRO_URL if "x-cg-pro-api-key" in headers else PUBLIC_URL
        self.base_url = (base_url or default).rstrip("/")
        mapping = id_mapping().filter(pl.col("coingecko_id").is_not_null())
        self.ids = dict(zip(mapping["symbol"], mapping["coingecko_id"]))

    def coingecko_id(self, symbol: str) -> str:
        if symbol not in self.ids:
            raise SourceError(self.name, "map symbol", symbol, reason="no CoinGecko id in data/coingecko_ids.csv")
        return self.ids[symbol]

    def coins_markets(self, symbols: list[str], vs_currency: str = "brl") -> pl.DataFrame:
        """Current price, market cap and 24h volume of each symbol in `vs_currency` (brl or usd)."""
        by_id = {self.coingecko_id(s): s for s in symbols}
        rows: list[dict] = []
        ids = sorted(by_id)
        for page in range(0, len(ids), 250):
            chunk = ids[page:page + 250]
            params = {"vs_currency": vs_currency, "ids": ",".join(chunk), "per_page": 250, "page": 1}
            payload = self.client.get(f"{self.base_url}/coins/markets", params, "fetch coins/markets", ",".join(by_id[i] for i in chunk))
            if not isinstance(payload, list):
                raise SourceError(self.name, "fetch coins/markets", ",".join(symbols), reason="expected a JSON list")
            rows.extend(payload)
        out = [
            (by_id[r["id"]], r["id"], vs_currency, r.get("current_price"), r.get("market_cap"), r.get("total_volume"),
             _iso(r.get("last_updated")))
            for r in rows if r.get("id") in by_id
        ]
        frame = pl.DataFrame(out, schema={**MARKETS_SCHEMA, "last_updated": pl.Int64}, orient="row")
        return frame.with_columns(pl.col("last_updated").cast(pl.Datetime("us", "UTC"))).sort("symbol")

    def market_chart_range(self, symbol: str, start: date | datetime, end: date | datetime, vs_currency: str = "usd") -> pl.DataFrame:
        """symbol, ts, price, market_cap, total_volume between start and end (CoinGecko's own sampling)."""
        coin = self.coingecko_id(symbol)
        start_s, end_s = _epoch_s(start), _epoch_s(end)
        payload = self.client.get(
            f"{self.base_url}/coins/{coin}/market_chart/range",
            {"vs_currency": vs_currency, "from": start_s, "to": end_s}, "fetch market_chart/range", symbol, start, end,
        )
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), list) for k in ("prices", "market_caps", "total_volumes")):
            raise SourceError(self.name, "fetch market_chart/range", symbol, start, end, "expected prices/market_caps/total_volumes lists")
        series = [
            pl.DataFrame(payload[key], schema={"ms": pl.Int64, col: pl.Float64}, orient="row")
            for key, col in (("prices", "price"), ("market_caps", "market_cap"), ("total_volumes", "total_volume"))
        ]
        frame = series[0].join(series[1], on="ms", how="full", coalesce=True).join(series[2], on="ms", how="full", coalesce=True)
        return frame.select(
            pl.lit(symbol).alias("symbol"), (pl.col("ms") * 1000).cast(pl.Datetime("us", "UTC")).alias("ts"),
            "price", "market_cap", "total_volume",
        ).sort("ts")

    def reference_prices_brl(self, symbols: list[str], start: date, end: date) -> pl.DataFrame:
        """symbol, date, price_brl: CoinGecko's BRL price at each day's close (the sample nearest day + 1 00:00
        UTC, within 2 hours) for start <= date <= end; symbols without a CoinGecko id are left out."""
        closes = pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)}).with_columns(
            (pl.col("date").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1)).alias("close_ts")
        )
        frames = []
        for symbol in sorted(s for s in symbols if s in self.ids):
            chart = self.market_chart_range(symbol, datetime.combine(start, datetime.min.time(), timezone.utc),
                                            datetime.combine(end, datetime.min.time(), timezone.utc) + timedelta(days=1, hours=2), "brl")
            if chart.is_empty():
                continue
            frames.append(
                closes.sort("close_ts")
                .join_asof(chart.select("ts", "price").drop_nulls().sort("ts"), left_on="close_ts", right_on="ts",
                           strategy="nearest", tolerance="2h")
                .drop_nulls("price")
                .select(pl.lit(symbol).alias("symbol"), "date", pl.col("price").alias("price_brl"))
            )
        if not frames:
            return pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "price_brl": pl.Float64})
        return pl.concat(frames).sort("symbol", "date")

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        """Today's USD market caps in the replay snapshot layout (only meaningful for as_of = today)."""
        caps = self.coins_markets(sorted(self.ids), "usd")
        return caps.select(
            pl.lit(as_of).alias("snapshot_date"), pl.col("symbol").str.split("/").list.first().alias("base"),
            pl.col("market_cap").alias("market_cap_usd"), "symbol",
        )


class RecentCapsSource:
    """CoinGecko's live caps for recent dates; older months come from the bundled point-in-time snapshots.

    CoinGecko's /coins/markets is a snapshot of now: using it for a past month would be look-ahead.
    """

    name = "coingecko+bundle"

    def __init__(self, live: CoinGeckoSource, max_age_days: int = 3, today: date | None = None) -> None:
        from dca_pipeline.ingestion.sources import ReplaySource

        self.live, self.max_age_days, self._today = live, max_age_days, today
        self.replay = ReplaySource()
        self.served_by: str | None = None

    def reference_prices_brl(self, symbols: list[str], start: date, end: date) -> pl.DataFrame:
        """Cross-source reference closes in BRL from CoinGecko (see CoinGeckoSource.reference_prices_brl)."""
        return self.live.reference_prices_brl(symbols, start, end)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        today = self._today or datetime.now(timezone.utc).date()
        if (today - as_of).days <= self.max_age_days:
            self.served_by = self.live.name
            return self.live.fetch_market_caps(as_of)
        self.served_by = "bundle"
        return self.replay.fetch_market_caps(as_of)


def _epoch_s(value: date | datetime) -> int:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def _iso(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000)
