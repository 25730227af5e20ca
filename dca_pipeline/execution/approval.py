"""The `approve_orders` job: a user approves (or rejects) orders waiting in pending_approval from the Dagster
UI's launchpad; the next materialization of that day's `fills` sends the approved ones."""
from datetime import date

from dagster import Config, OpExecutionContext, job, op

from dca_pipeline.execution import oms
from dca_pipeline.storage.resources import Warehouse


class ApproveOrdersConfig(Config):
    """Client order ids to approve / reject, or a date (YYYY-MM-DD) whose pending orders are all approved."""

    client_order_ids: list[str] = []
    approve_all_for_date: str = ""
    reject_client_order_ids: list[str] = []
    approver: str = "ui"


@op
def approve_pending_orders(context: OpExecutionContext, config: ApproveOrdersConfig, warehouse: Warehouse) -> dict:
    """Record approvals and rejections as order events (only orders still pending_approval change)."""
    db = warehouse.db()
    ids = list(config.client_order_ids)
    if config.approve_all_for_date:
        ids += oms.pending_ids(db, date.fromisoformat(config.approve_all_for_date))
    approved = oms.approve(db, ids, config.approver)
    rejected = oms.reject(db, list(config.reject_client_order_ids), config.approver)
    context.log.info(f"approved {approved}; rejected {rejected}")
    context.add_output_metadata({"approved": approved, "rejected": rejected})
    return {"approved": approved, "rejected": rejected}


@job(description="Approve or reject orders waiting for manual approval (then re-materialize that day's fills).")
def approve_orders_job() -> None:
    approve_pending_orders()
