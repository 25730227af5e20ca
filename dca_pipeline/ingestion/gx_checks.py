"""Great Expectations suite on the stored daily bars, as a blocking Dagster asset check (suite: quality/expectations.py)."""
import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.partitions import DAILY
from dca_pipeline.quality import expectations, gx_run


def run_label(context: AssetCheckExecutionContext, asset: str) -> str:
    """`<asset> <first>..<last>` (or one key) naming the validation in Data Docs."""
    keys = context.op_execution_context.partition_key_range
    return f"{asset} {keys.start}" if keys.start == keys.end else f"{asset} {keys.start}..{keys.end}"


@asset_check(asset=raw_ohlcv_1d, name="gx_expectations", partitions_def=DAILY, blocking=True,
             description="Great Expectations suite raw_ohlcv_1d: keys unique, BRL pairs only, prices > 0 within [low, high]")
def raw_ohlcv_1d_expectations(context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame) -> AssetCheckResult:
    outcome = gx_run.validate(raw_ohlcv_1d, expectations.raw_ohlcv_1d_suite(), run_label(context, "raw_ohlcv_1d"))
    return gx_run.check_result(outcome)
