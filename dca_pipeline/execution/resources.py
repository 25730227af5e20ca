"""Execution's resource: where orders go (settings read when a run starts)."""
import os

from dagster import ConfigurableResource

from dca_pipeline.config import cached_settings


class Broker(ConfigurableResource):
    """Where orders go: `paper` (simulated fills at the next open) or `live` (Mercado Bitcoin; refused unless
    DCA_LIVE_TRADING=1; keys from DCA_MB_API_KEY / DCA_MB_API_SECRET; `api_url` overrides the endpoint)."""

    mode: str = ""  # empty: the configuration's `broker` (filled when a run starts)
    api_url: str = ""
    config_path: str = ""

    def create_resource(self, context) -> "Broker":  # noqa: ANN001 - what assets receive
        return self.resolved()

    def resolved(self) -> "Broker":
        """This resource with an empty `mode` filled from the configuration (settings read now, not at import)."""
        if self.mode:
            return self
        return type(self)(mode=cached_settings(self.config_path or None).broker, api_url=self.api_url,
                      config_path=self.config_path)

    def ensure_allowed(self) -> None:
        if not self.mode:
            return self.resolved().ensure_allowed()
        if self.mode == "paper":
            return
        if self.mode != "live":
            raise ValueError(f"unknown broker mode {self.mode!r}; allowed: paper, live")
        if os.environ.get("DCA_LIVE_TRADING") != "1":
            raise PermissionError("live broker selected but DCA_LIVE_TRADING=1 is not set: refusing to trade")
