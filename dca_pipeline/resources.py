"""Dagster resources: configuration, the market-data source and the warehouse, all swappable in tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dca_pipeline.config import Settings, cached_settings
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource
from dca_pipeline.paths import warehouse_path


class PipelineConfig(ConfigurableResource):
    """The validated YAML configuration (empty path: $DCA_CONFIG or the packaged default)."""

    config_path: str = ""

    def settings(self) -> Settings:
        return cached_settings(self.config_path or None)


class MarketData(ConfigurableResource):
    """Which market data source feeds ingestion: `replay` (bundled, offline) or `ccxt` (live, see docs/connectors.md).

    Exchange credentials never go here: they are read from DCA_<EXCHANGE>_API_KEY / _API_SECRET env vars.
    """

    source: str = "replay"
    exchange_id: str = "mercadobitcoin"  # "mercadobitcoin" = the API v4 adapter; any other ccxt id works too
    base_url: str = ""  # override of the exchange's REST base URL (tests: a loopback server)
    failover_exchange_ids: list[str] = []  # tried in order when the primary exchange fails
    requests_per_minute: int = 300  # per-exchange rolling budget (MB allows 500/min overall)
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_ms: int = 10_000
    min_request_interval_ms: int = 1000  # ccxt's own throttle between requests (MB: 1 public request/s); 0 = off
    fx: str = "replay"  # USD/BRL: `replay` (bundled) or `ptax` (BCB Olinda, bundled fallback)
    ptax_base_url: str = ""
    market_caps: str = "replay"  # `replay` (bundled monthly snapshots) or `coingecko` (live, recent dates only)
    coingecko_base_url: str = ""  # key: $DCA_COINGECKO_API_KEY or $DCA_COINGECKO_PRO_API_KEY, never config

    def client(self) -> MarketDataSource:
        if self.source == "replay":
            return ReplaySource()
        if self.source == "ccxt":
            return self._live_client()
        raise ValueError(f"unknown market data source {self.source!r}; allowed: replay, ccxt")

    def _live_client(self) -> MarketDataSource:
        from dca_pipeline.ingestion.ccxt_source import CcxtSource, FailoverSource
        from dca_pipeline.ingestion.retry import RetrySettings

        retry = RetrySettings(self.max_attempts, self.backoff_base_s, self.backoff_max_s)
        fx_source = None
        if self.fx == "ptax":
            from dca_pipeline.ingestion.http_json import JsonHttpClient
            from dca_pipeline.ingestion.ptax import OLINDA_URL, PtaxSource

            http = JsonHttpClient("bcb_ptax", timeout_s=self.timeout_ms / 1000, retry=retry)
            fx_source = PtaxSource(http, self.ptax_base_url or OLINDA_URL)
        elif self.fx != "replay":
            raise ValueError(f"unknown fx source {self.fx!r}; allowed: replay, ptax")
        caps_source = None
        if self.market_caps == "coingecko":
            from dca_pipeline.ingestion.coingecko import CoinGeckoSource, RecentCapsSource
            from dca_pipeline.ingestion.http_json import JsonHttpClient

            http = JsonHttpClient("coingecko", timeout_s=self.timeout_ms / 1000, retry=retry)
            caps_source = RecentCapsSource(CoinGeckoSource(http, self.coingecko_base_url or None))
        elif self.market_caps != "replay":
            raise ValueError(f"unknown market caps source {self.market_caps!r}; allowed: replay, coingecko")
        sources = [
            CcxtSource(exchange_id=exchange_id, base_url=(self.base_url or None) if i == 0 else None,
                       timeout_ms=self.timeout_ms, rate_limit_ms=self.min_request_interval_ms or None, retry=retry,
                       requests_per_minute=self.requests_per_minute, fx_source=fx_source, caps_source=caps_source)
            for i, exchange_id in enumerate([self.exchange_id, *self.failover_exchange_ids])
        ]
        return sources[0] if len(sources) == 1 else FailoverSource(sources)


class Warehouse(DuckDBResource):
    """The DuckDB warehouse, as dagster-duckdb's `DuckDBResource` (empty `database`: $DCA_HOME/warehouse.duckdb).

    `get_connection()` keeps the resource's interface but yields a cursor on the process-wide connection of
    `storage.duck`, which carries what the stock resource cannot: one connection (one writer) per file per
    process, waiting up to $DCA_DUCKDB_LOCK_TIMEOUT s for another process's lock, and the encrypted ledger
    (`ATTACH ... (ENCRYPTION_KEY ...)` from $DCA_LEDGER_KEY). `connection_config` items are applied with `SET`.
    """

    database: str = Field(default="", description="DuckDB file; empty: $DCA_HOME/warehouse.duckdb")

    def db(self) -> Path:
        return Path(self.database) if self.database else warehouse_path()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        from dca_pipeline.storage import duck

        with duck.cursor(self.db()) as cur:
            for name, value in self.connection_config.items():
                cur.execute(f"SET {name} = {duckdb_literal(value)}")
            yield cur

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        """Release the file lock as soon as the run (or step) is done."""
        from dca_pipeline.storage import duck

        duck.close_all()


def duckdb_literal(value: object) -> str:
    """A SQL literal for a `SET` value (numbers and booleans bare, text quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class Broker(ConfigurableResource):
    """Where orders go: `paper` (simulated fills at the next open) or `live` (Mercado Bitcoin; refused unless
    DCA_LIVE_TRADING=1; keys from DCA_MB_API_KEY / DCA_MB_API_SECRET; `api_url` overrides the endpoint)."""

    mode: str = "paper"
    api_url: str = ""

    def ensure_allowed(self) -> None:
        import os

        if self.mode == "paper":
            return
        if self.mode != "live":
            raise ValueError(f"unknown broker mode {self.mode!r}; allowed: paper, live")
        if os.environ.get("DCA_LIVE_TRADING") != "1":
            raise PermissionError("live broker selected but DCA_LIVE_TRADING=1 is not set: refusing to trade")
