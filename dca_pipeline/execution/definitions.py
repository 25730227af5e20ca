"""Execution's Dagster wiring: orders, fills, reconciliation and positions with their checks, and the
order-approval job (the daily job that runs these assets lives in monitoring, its highest layer)."""

from dca_pipeline.layers import layer_definitions
from dca_pipeline.execution import assets, gx_checks, input_checks, tca_asset
from dca_pipeline.execution.approval import approve_orders_job

defs = layer_definitions(
    "execution", [assets, gx_checks, tca_asset],
    extra_checks=[input_checks.prices_for_held_and_targeted],
    jobs=[approve_orders_job],
)
