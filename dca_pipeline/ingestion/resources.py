"""Ingestion's resource: which market-data source feeds the raw assets (settings read when a run starts)."""

from dagster import ConfigurableResource

from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource


class MarketData(ConfigurableResource):
    """Which market data source feeds ingestion: `replay` (bundled, offline) or `ccxt` (live, see docs/connectors.md).

    Exchange credentials never go here: they are read from DCA_<EXCHANGE>_API_KEY / _API_SECRET env vars.
    """

    source: str = ""  # empty: the configuration's `source` and `connectors` (filled when a run starts)
    config_path: str = ""  # which configuration fills an empty `source` (empty: $DCA_CONFIG or the default)
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

    def create_resource(self, context) -> "MarketData":  # noqa: ANN001 - what assets receive
        return self.resolved()

    def resolved(self) -> "MarketData":
        """This resource with an empty `source` filled from the configuration (settings read now, not at import)."""
        if self.source:
            return self
        settings = cached_settings(self.config_path or None)
        return type(self)(source=settings.source, config_path=self.config_path, **settings.connectors.resource_kwargs())

    def client(self) -> MarketDataSource:
        if not self.source:
            return self.resolved().client()
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
