"""Analytics' Dagster wiring: its assets and checks (they run in daily_job / monthly_job, owned by the layer above)."""

from dca_pipeline.layers import layer_definitions
from dca_pipeline.analytics import assets, gx_checks

defs = layer_definitions("analytics", [assets, gx_checks])
