"""The configuration resource every layer's assets take: settings are read when a run starts, never at import.

Each layer's other resources live with the layer: `storage.resources.Warehouse`, `ingestion.resources.MarketData`,
`execution.resources.Broker`.
"""
from dagster import ConfigurableResource

from dca_pipeline.config import Settings, cached_settings


class PipelineConfig(ConfigurableResource):
    """The validated YAML configuration (empty path: $DCA_CONFIG or the packaged default)."""

    config_path: str = ""

    def settings(self) -> Settings:
        return cached_settings(self.config_path or None)
