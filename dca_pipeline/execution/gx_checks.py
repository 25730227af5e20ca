"""Great Expectations suite on the day's orders, as a blocking Dagster asset check (suite: quality/expectations.py)."""
from datetime import date

import polars as pl

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dca_pipeline.execution.assets import DAILY, DCA_ORDERS
from dca_pipeline.execution.projection import day_orders
from dca_pipeline.quality import expectations, gx_run
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse


@asset_check(asset=DCA_ORDERS, name="gx_expectations", partitions_def=DAILY, blocking=True,
             description="Great Expectations suite dca_orders: unique client order ids, BRL pairs, buy/sell, >= exchange minimum")
def dca_orders_expectations(
    context: AssetCheckExecutionContext, config: PipelineConfig, warehouse: Warehouse
) -> AssetCheckResult:
    keys = context.op_execution_context.partition_keys  # one day, or each day of a single-run backfill range
    orders = pl.concat([day_orders(warehouse.db(), date.fromisoformat(k)) for k in keys], how="diagonal_relaxed")
    suite = expectations.dca_orders_suite(config.settings().min_order_centavos)
    label = keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
    return gx_run.check_result(gx_run.validate(orders, suite, f"dca_orders {label}"))
