"""Dagster resources: configuration, the market-data source and the warehouse, all swappable in tests."""

from pathlib import Path

from dagster import ConfigurableResource

from dca_pipeline.config import Settings, cached_settings
from dca_pipeline.ingestion.sources import CcxtSource, MarketDataSource, ReplaySource
from dca_pipeline.paths import warehouse_path


class PipelineConfig(ConfigurableResource):
    """The validated YAML configuration (empty path: $DCA_CONFIG or the packaged default)."""

    config_path: str = ""

    def settings(self) -> Settings:
        return cached_settings(self.config_path or None)


class MarketData(ConfigurableResource):
    """Which market data source feeds ingestion: `replay` (bundled, offline) or `ccxt` (Mercado Bitcoin)."""

    source: str = "replay"

    def client(self) -> MarketDataSource:
        if self.source == "replay":
            return ReplaySource()
        if self.source == "ccxt":
            return CcxtSource()
        raise ValueError(f"unknown market data source {self.source!r}; allowed: replay, ccxt")


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse file (empty path: $DCA_HOME/warehouse.duckdb)."""

    path: str = ""

    def db(self) -> Path:
        return Path(self.path) if self.path else warehouse_path()

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        """Release the file lock as soon as the run (or step) is done."""
        from dca_pipeline.storage import duck

        duck.close_all()


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
