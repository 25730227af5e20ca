"""Run in a subprocess by test_secret_redaction: one real day of the pipeline plus a step that leaks a secret.

Usage: python -m dca_pipeline_tests.governance.pipeline_run <dagster_home> <records_file>. Every log record
of every logger (DEBUG and up, exceptions included) is also written to <records_file> for the scan.
"""
import logging
import os
import sys
from datetime import date, timedelta

from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

DAY = date(2021, 1, 4)


@asset(group_name="leak_test")
def leaky_step(context: AssetExecutionContext) -> None:
    """Simulates an exchange client failing with its credentials in the message, after logging them."""
    key, secret = os.environ["DCA_MB_API_KEY"], os.environ["DCA_MB_API_SECRET"]
    context.log.info(f"signing request with key={key} secret={secret}")
    logging.getLogger("dca_pipeline.execution").warning("retrying with %s", os.environ["DCA_MB_API_SECRET_NEXT"])
    try:
        raise ConnectionError(f"401 from exchange for api_key={key}")
    except ConnectionError as exc:
        raise RuntimeError(f"authentication failed: secret {secret} rejected, ledger key {os.environ['DCA_LEDGER_KEY']}") from exc


def main(dagster_home: str, records_file: str) -> int:
    handler = logging.FileHandler(records_file)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    from dca_pipeline.definitions import defs  # installs the redaction layer
    from dca_pipeline.runner import _key, history_days_needed
    from dca_pipeline.config import cached_settings

    settings = cached_settings()
    first = max(settings.history_start, DAY.replace(day=1) - timedelta(days=history_days_needed(settings)))
    with DagsterInstance.local_temp(dagster_home) as instance:
        defs.resolve_job_def("ingest_history_job").execute_in_process(
            instance=instance, tags={"dagster/asset_partition_range_start": first.isoformat(),
                                     "dagster/asset_partition_range_end": DAY.isoformat()})
        daily, monthly = defs.resolve_job_def("daily_job"), defs.resolve_job_def("monthly_job")
        eve = DAY.replace(day=1) - timedelta(days=1)
        daily.execute_in_process(instance=instance, partition_key=eve.isoformat(), asset_selection=[_key("features_daily")])
        monthly.execute_in_process(instance=instance, partition_key=DAY.replace(day=1).isoformat())
        result = daily.execute_in_process(instance=instance, partition_key=DAY.isoformat())
        assert result.success
        glob = defs.get_implicit_global_asset_job_def()
        assert glob.execute_in_process(instance=instance, asset_selection=[_key("config_audit"), _key("ledger_backup")]).success
        leak = materialize([leaky_step], instance=instance, raise_on_error=False)
        assert not leak.success
        print(f"leaky run {leak.run_id} failed as planned", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
