"""Great Expectations suite on the daily features, as a blocking Dagster asset check (suite: quality/expectations.py)."""
import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dca_pipeline.analytics.assets import DAILY, features_daily
from dca_pipeline.quality import expectations, gx_run


@asset_check(asset=features_daily, name="gx_expectations", partitions_def=DAILY, blocking=True,
             description="Great Expectations suite features_daily: one row per (symbol, date), RSI in [0, 100], vols >= 0")
def features_daily_expectations(context: AssetCheckExecutionContext, features_daily: pl.DataFrame) -> AssetCheckResult:
    keys = context.op_execution_context.partition_keys  # one day, or each day of a single-run backfill range
    label = keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
    outcome = gx_run.validate(features_daily, expectations.features_daily_suite(), f"features_daily {label}")
    return gx_run.check_result(outcome)
