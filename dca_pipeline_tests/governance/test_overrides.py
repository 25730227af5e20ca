"""Kill switch and per-asset freezes: the guard stops a plan mid-way; every change is audited; Dagster jobs."""
import threading

import pytest
from dagster import DagsterInstance

from dca_pipeline.governance import audit, overrides
from dca_pipeline.paths import dca_home, warehouse_path

PLAN = [("ADA/BRL", 1500), ("DOT/BRL", 1200), ("LINK/BRL", 900), ("SOL/BRL", 800), ("XRP/BRL", 700)]


def _send_plan(plan, on_sent) -> tuple[list, list]:  # noqa: ANN001
    """The broker boundary as the lead wires it: ask the guard before every send."""
    sent, blocked = [], []
    for symbol, amount in plan:
        reason = overrides.trading_block_reason(symbol)
        if reason is not None:
            blocked.append((symbol, reason))
            continue
        sent.append((symbol, amount))
        on_sent(symbol)
    return sent, blocked


def test_kill_switch_set_mid_plan_stops_the_remaining_orders() -> None:
    def after_send(symbol: str) -> None:
        if symbol == "DOT/BRL":  # an operator pulls the switch from another thread while the plan is being sent
            t = threading.Thread(target=overrides.set_kill_switch, args=(True, "exchange incident"), kwargs={"actor": "user"})
            t.start()
            t.join()

    sent, blocked = _send_plan(PLAN, after_send)
    assert [s for s, _ in sent] == ["ADA/BRL", "DOT/BRL"]
    assert [s for s, _ in blocked] == ["LINK/BRL", "SOL/BRL", "XRP/BRL"]
    assert all(r == "kill switch on: exchange incident" for _, r in blocked)
    log = audit.entries(warehouse_path())
    assert log["action"].to_list() == ["kill_switch_on"] and log["actor"][0] == "user"

    overrides.set_kill_switch(False, actor="user")
    sent, blocked = _send_plan(PLAN, lambda _s: None)
    assert len(sent) == len(PLAN) and not blocked
    assert audit.entries(warehouse_path())["action"].to_list() == ["kill_switch_on", "kill_switch_off"]


def test_a_hand_written_kill_switch_file_also_blocks() -> None:
    (dca_home() / "control").mkdir(parents=True, exist_ok=True)
    (dca_home() / "control" / "KILL_SWITCH").write_text("maintenance window\n")
    assert overrides.trading_block_reason("ADA/BRL") == "kill switch on: maintenance window"


def test_freeze_blocks_one_asset_only() -> None:
    overrides.freeze_asset("DOT/BRL", "delisting announced", actor="user")
    sent, blocked = _send_plan(PLAN, lambda _s: None)
    assert [s for s, _ in blocked] == ["DOT/BRL"] and "delisting announced" in blocked[0][1]
    assert overrides.trading_block_reason("DOT") is not None  # the base freezes every quote
    assert set(overrides.frozen_assets()) == {"DOT"}
    overrides.unfreeze_asset("DOT/BRL")
    assert overrides.trading_block_reason("DOT/BRL") is None
    assert audit.entries(warehouse_path())["action"].to_list() == ["asset_frozen", "asset_unfrozen"]
    assert audit.verify_chain(warehouse_path()).ok


def test_reasons_are_required() -> None:
    with pytest.raises(ValueError, match="reason"):
        overrides.set_kill_switch(True, "  ")
    with pytest.raises(ValueError, match="reason"):
        overrides.freeze_asset("ADA/BRL", "")


def test_dagster_jobs_toggle_and_audit() -> None:
    from dca_pipeline.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        on = defs.resolve_job_def("kill_switch").execute_in_process(
            instance=instance, run_config={"ops": {"set_kill_switch_op": {"config": {"on": True, "reason": "manual stop"}}}})
        assert on.success and on.dagster_run.tags["dca/env"] == "dev"
        assert overrides.trading_block_reason("ADA/BRL") == "kill switch on: manual stop"
        defs.resolve_job_def("kill_switch").execute_in_process(
            instance=instance, run_config={"ops": {"set_kill_switch_op": {"config": {"on": False}}}})
        assert overrides.trading_block_reason("ADA/BRL") is None
        defs.resolve_job_def("freeze_asset").execute_in_process(
            instance=instance, run_config={"ops": {"freeze_asset_op": {"config": {"symbol": "SOL/BRL", "reason": "hack"}}}})
        assert overrides.trading_block_reason("SOL/BRL") == "SOL/BRL frozen: hack"
        defs.resolve_job_def("unfreeze_asset").execute_in_process(
            instance=instance, run_config={"ops": {"unfreeze_asset_op": {"config": {"symbol": "SOL/BRL"}}}})
        assert overrides.trading_block_reason("SOL/BRL") is None
    log = audit.entries(warehouse_path())
    assert log["action"].to_list() == ["kill_switch_on", "kill_switch_off", "asset_frozen", "asset_unfrozen"]
    assert set(log["actor"].to_list()) == {"user"} and all(log["run_id"].to_list())


def test_pre_send_guard_shape() -> None:
    assert overrides.pre_send_block_reasons("ADA/BRL") == []
    overrides.freeze_asset("ADA/BRL", "audit")
    assert overrides.pre_send_block_reasons("ADA/BRL") == ["ADA/BRL frozen: audit"]


def test_freeze_reasons_lists_the_frozen_symbols_from_one_read() -> None:
    assert overrides.freeze_reasons(["ADA/BRL", "DOT/BRL"]) == {}  # nothing frozen, no freeze folder yet
    overrides.freeze_asset("DOT", "delisting announced", actor="user")
    reasons = overrides.freeze_reasons(["ADA/BRL", "DOT/BRL", "DOT/USDT", "LINK/BRL"])
    assert reasons == {"DOT/BRL": "DOT/BRL frozen: delisting announced", "DOT/USDT": "DOT/USDT frozen: delisting announced"}
    assert reasons["DOT/BRL"] == overrides.trading_block_reason("DOT/BRL")  # the per-order question's words
    overrides.unfreeze_asset("DOT")
    assert overrides.freeze_reasons(["DOT/BRL"]) == {}
