"""Great Expectations suite on the daily features, as a blocking Dagster asset check (suite: quality/expectations.py)."""
import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dca_pipeline.analytics.assets import DAILY, features_daily
from dca_pipeline.quality import expectations, gx_run


@asset_check(asset=features_daily, name="gx_expectations", partitions_def=DAILY, blocking=True,
             description="Great Expectations suite features_daily: one row per (symbol, date), RSI in [0, 100], vols >= 0")
def features_daily_expectations(context: AssetCheckExecutionContext, features_daily: pl.DataFrame) -> AssetCheckResult:
    outcome = gx_run.validate(features_daily, expectations.features_daily_suite(), f"features_daily {context.partition_key}")
    return gx_run.check_result(outcome)
