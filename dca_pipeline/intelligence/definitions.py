"""Intelligence's Dagster wiring: its assets and checks (they run in daily_job / monthly_job, owned by the layer above)."""

from dca_pipeline.layers import layer_definitions
from dca_pipeline.intelligence import assets

defs = layer_definitions("intelligence", [assets])
