"""Prepares a month in the instance at $DAGSTER_HOME and the state at $DCA_HOME (history, eve features,
monthly targets), for the real-job kill test.  usage: python -m dca_pipeline_tests.monitoring.prepare_month 2021-01"""
import sys
from datetime import date

from dagster import DagsterInstance

from dca_pipeline.runner import prepare_month

if __name__ == "__main__":
    with DagsterInstance.get() as instance:
        prepare_month(date.fromisoformat(f"{sys.argv[1]}-01"), instance, log=lambda _m: None)
    print("prepared", flush=True)
