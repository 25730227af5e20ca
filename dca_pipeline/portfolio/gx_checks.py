"""Great Expectations suite on the monthly target weights, as a blocking Dagster asset check (suite: quality/expectations.py)."""
import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dca_pipeline.portfolio.assets import MONTHLY, target_weights
from dca_pipeline.quality import expectations, gx_run
from dca_pipeline.resources import PipelineConfig


@asset_check(asset=target_weights, name="gx_expectations", partitions_def=MONTHLY, blocking=True,
             description="Great Expectations suite target_weights: unique BRL symbols, known tier, 0 <= weight <= cap, sum <= 1")
def target_weights_expectations(
    context: AssetCheckExecutionContext, target_weights: pl.DataFrame, config: PipelineConfig
) -> AssetCheckResult:
    tiers = [t.name for t in config.settings().tiers]
    outcome = gx_run.validate(target_weights, expectations.target_weights_suite(tiers), f"target_weights {context.partition_key}")
    return gx_run.check_result(outcome)
