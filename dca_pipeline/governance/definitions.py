"""Governance's Dagster wiring: config audit, ledger backup (nightly), kill switch and freeze jobs."""
from dagster import (
    AssetSelection, Definitions, ScheduleDefinition, define_asset_job, in_process_executor, job, with_source_code_references,
)

from dca_pipeline.config import env_tags
from dca_pipeline.governance import assets
from dca_pipeline.partitions import CADENCE_TAG, SCHEDULE_TIMEZONE
from dca_pipeline.recovery import recovering

ledger_backup_job = define_asset_job(
    "ledger_backup_job", selection=AssetSelection.groups(assets.GROUP) & AssetSelection.tag(CADENCE_TAG, "maintenance"),
    executor_def=recovering(in_process_executor), tags=env_tags(), description="Snapshot the ledger (see docs/operations.md).",
)
ledger_backup_schedule = ScheduleDefinition(
    name="ledger_backup_schedule", job=ledger_backup_job, cron_schedule="30 2 * * *",
    execution_timezone=SCHEDULE_TIMEZONE,  # 02:30 São Paulo, after the 01:15 daily run
)


@job(tags=env_tags(), executor_def=recovering(in_process_executor), description="Kill switch: run config {on: true|false, reason}.")
def kill_switch() -> None:
    assets.set_kill_switch_op()


@job(tags=env_tags(), executor_def=recovering(in_process_executor), description="Freeze an asset: run config {symbol, reason}.")
def freeze_asset() -> None:
    assets.freeze_asset_op()


@job(tags=env_tags(), executor_def=recovering(in_process_executor), description="Unfreeze an asset: run config {symbol}.")
def unfreeze_asset() -> None:
    assets.unfreeze_asset_op()


defs = Definitions(
    assets=with_source_code_references([assets.config_audit, assets.ledger_backup]),
    asset_checks=[assets.audit_chain_intact],
    jobs=[ledger_backup_job, kill_switch, freeze_asset, unfreeze_asset],
    schedules=[ledger_backup_schedule],
)
