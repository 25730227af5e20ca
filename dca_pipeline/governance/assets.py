"""Governance assets, checks and ops: config audit with the audit-chain check, ledger backup, kill switch, freezes
(their jobs and schedule: governance/definitions.py).

Thin wrappers: every action is a plain function in dca_pipeline.governance; these only read the run context
(actor, run id), call it and attach metadata (redacted, with the active environment).
"""
import json

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    asset_check,
    op,
)

from dca_pipeline.governance import audit, backup, overrides
from dca_pipeline.config import active_env, env_metadata
from dca_pipeline.partitions import cadence
from dca_pipeline.secrets import redact_metadata, scrub_errors
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse

GROUP = "governance"


def _actor(context) -> tuple[str, str]:  # noqa: ANN001 - asset or op context
    return audit.actor_from_tags(dict(context.run.tags)), context.run_id


@asset(group_name=GROUP, kinds={"duckdb"}, owners=["team:ops"], description="Audits the effective configuration: a config_changed entry when its hash changes.")
@scrub_errors
def config_audit(context: AssetExecutionContext, pipeline_config: PipelineConfig, warehouse: Warehouse) -> MaterializeResult:
    settings = pipeline_config.settings()
    actor, run_id = _actor(context)
    db = warehouse.db()
    entry = None
    if settings.governance.audit_config_changes:
        entry = audit.record_config_if_changed(db, settings, env=active_env(), actor=actor, run_id=run_id)
    changed = json.loads(entry["after_json"])["changed_sections"] if entry else []
    meta = {**env_metadata(), "config_hash": audit.config_fingerprint(settings), "changed": entry is not None,
            "changed_sections": ", ".join(changed) or "none"}
    return MaterializeResult(metadata=redact_metadata(meta))


@asset_check(asset=config_audit, description="The audit log's sha256 chain is intact; names the first tampered entry.")
def audit_chain_intact(warehouse: Warehouse) -> AssetCheckResult:
    status = audit.verify_chain(warehouse.db())
    meta = {"entries": status.entries, "first_bad_seq": status.first_bad_seq or 0}
    return AssetCheckResult(passed=status.ok, severity=AssetCheckSeverity.ERROR,
                            description=status.reason or f"{status.entries} entries, chain intact", metadata=meta)


@asset(group_name=GROUP, tags=cadence("maintenance"), kinds={"duckdb"}, owners=["team:ops"], description="Point-in-time snapshot of the ledger, audit log and config in $DCA_HOME/backups.")
@scrub_errors
def ledger_backup(context: AssetExecutionContext, pipeline_config: PipelineConfig, warehouse: Warehouse) -> MaterializeResult:
    settings = pipeline_config.settings()
    target = backup.make_backup(settings)
    verified = backup.verify_backup(target)
    actor, run_id = _actor(context)
    audit.append(warehouse.db(), "ledger_backup", target.name, actor=actor, run_id=run_id,
                 after={"files": verified.manifest["files"], "audit": verified.manifest["audit"]})
    meta = {**env_metadata(), "path": MetadataValue.path(str(target)), "files": len(verified.files),
            "encrypted": bool(verified.manifest["encrypted"]), "audit_entries": verified.manifest["audit"]["entries"]}
    return MaterializeResult(metadata=redact_metadata(meta))


class KillSwitchConfig(Config):
    on: bool
    reason: str = ""


class FreezeConfig(Config):
    symbol: str
    reason: str = ""


@op(description="Turn the global kill switch on (with a reason) or off; audited.")
def set_kill_switch_op(context: OpExecutionContext, config: KillSwitchConfig, warehouse: Warehouse) -> None:
    actor, run_id = _actor(context)
    state = overrides.set_kill_switch(config.on, config.reason, actor=actor, run_id=run_id, db=warehouse.db())
    context.log.warning(f"kill switch {'ON: ' + state['reason'] if state else 'OFF'}")


@op(description="Freeze one asset (no orders for it until unfrozen); audited.")
def freeze_asset_op(context: OpExecutionContext, config: FreezeConfig, warehouse: Warehouse) -> None:
    actor, run_id = _actor(context)
    overrides.freeze_asset(config.symbol, config.reason, actor=actor, run_id=run_id, db=warehouse.db())
    context.log.warning(f"{config.symbol} frozen: {config.reason}")


@op(description="Unfreeze one asset; audited.")
def unfreeze_asset_op(context: OpExecutionContext, config: FreezeConfig, warehouse: Warehouse) -> None:
    actor, run_id = _actor(context)
    overrides.unfreeze_asset(config.symbol, actor=actor, run_id=run_id, db=warehouse.db())
    context.log.warning(f"{config.symbol} unfrozen")
