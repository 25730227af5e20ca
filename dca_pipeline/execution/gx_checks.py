"""Great Expectations suite on the day's orders, as a blocking Dagster asset check (suite: quality/expectations.py)."""
from datetime import date

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
    orders = day_orders(warehouse.db(), date.fromisoformat(context.partition_key))
    suite = expectations.dca_orders_suite(config.settings().min_order_centavos)
    return gx_run.check_result(gx_run.validate(orders, suite, f"dca_orders {context.partition_key}"))
