"""Governance at the broker boundary: the kill switch and freezes block orders; every order change is audited."""
from dca_pipeline.governance import audit, overrides
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

from .test_oms import CountingBroker, _run_day


def _reasons(db) -> list[str]:  # noqa: ANN001
    return duck.query(db, "select detail from execution.events where status = 'rejected' order by event_id")["detail"].to_list()


def test_kill_switch_stops_every_order_before_the_broker() -> None:
    db = warehouse_path()
    overrides.set_kill_switch(True, "exchange incident", actor="user")
    broker = CountingBroker()
    states = _run_day(db, broker=broker)
    assert broker.sent == [] and set(states["status"]) == {"rejected"}
    assert all("kill switch" in r.lower() and "exchange incident" in r for r in _reasons(db))
    overrides.set_kill_switch(False, actor="user")
    assert overrides.trading_block_reason("A/BRL") is None


def test_a_frozen_asset_is_blocked_and_the_others_trade() -> None:
    db = warehouse_path()
    overrides.freeze_asset("A/BRL", "delisting rumour", actor="user")
    broker = CountingBroker()
    states = _run_day(db, broker=broker)
    status = dict(zip(states["symbol"], states["status"]))
    assert status == {"A/BRL": "rejected", "B/BRL": "filled"} and len(broker.sent) == 1
    assert any("delisting rumour" in r for r in _reasons(db))


def test_every_order_state_change_is_in_the_audit_chain() -> None:
    db = warehouse_path()
    audit.set_actor("schedule", "run-123")
    _run_day(db)
    order_events = duck.query(db, "select client_order_id, status from execution.events where kind = 'order' order by seq")
    log = audit.entries(db).filter(audit.entries(db)["action"].str.starts_with("order_"))
    assert sorted(zip(log["subject"], log["action"])) == sorted(
        (c, f"order_{s}") for c, s in order_events.iter_rows()
    )
    assert set(log["actor"]) == {"schedule"} and set(log["run_id"]) == {"run-123"}
    assert audit.verify_chain(db).ok
    before = len(audit.entries(db))
    _run_day(db)  # a rerun changes no order, so it adds no audit entry either
    assert len(audit.entries(db)) == before
