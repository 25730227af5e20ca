"""The audit log: append-only entries chained by sha256; tampering is detected and named; config changes audited."""
import hashlib
import json
from datetime import datetime, timezone

import pytest
from dagster import DagsterInstance

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.governance import audit
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck


def _fill_log(db) -> None:  # noqa: ANN001
    audit.append(db, "order_planned", "ADA/BRL", actor="schedule", run_id="r1", after={"amount_centavos": 1500})
    audit.append(db, "order_sent", "ADA/BRL", actor="schedule", run_id="r1", before={"status": "planned"}, after={"status": "sent"})
    audit.append(db, "order_filled", "ADA/BRL", actor="sensor", run_id="r2", before={"status": "sent"}, after={"qty": "1.5"})


def test_entries_chain_by_sha256_of_the_previous_entry() -> None:
    db = warehouse_path()
    _fill_log(db)
    log = audit.entries(db)
    assert log["seq"].to_list() == [1, 2, 3]
    assert log["prev_hash"][0] == "0" * 64
    for i in range(1, 3):
        assert log["prev_hash"][i] == log["hash"][i - 1]
    # recompute entry 2's hash independently of the module's helper
    row = log.row(1, named=True)
    payload = json.dumps([2, row["at"].isoformat(), "schedule", "r1", "order_sent", "ADA/BRL",
                          '{"status":"planned"}', '{"status":"sent"}', row["prev_hash"]])
    assert row["hash"] == hashlib.sha256(payload.encode()).hexdigest()
    assert audit.verify_chain(db).ok and audit.verify_chain(db).entries == 3


@pytest.mark.parametrize(
    ("sql", "bad_seq", "reason"),
    [
        ("update governance.audit_log set after_json = '{\"qty\":\"15\"}' where seq = 3", 3, "altered"),
        ("update governance.audit_log set actor = 'user' where seq = 2", 2, "altered"),
        ("delete from governance.audit_log where seq = 2", 2, "missing"),
        ("update governance.audit_log set prev_hash = repeat('a', 64) where seq = 2", 2, "does not link"),
    ],
)
def test_tampering_is_detected_at_the_first_bad_entry(sql: str, bad_seq: int, reason: str) -> None:
    db = warehouse_path()
    _fill_log(db)
    with duck.transaction(db) as cur:
        cur.execute(sql)
    status = audit.verify_chain(db)
    assert not status.ok and status.first_bad_seq == bad_seq and reason in status.reason


def test_secrets_never_enter_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_MB_API_SECRET", "sup3r-s3cret-value")
    db = warehouse_path()
    audit.append(db, "config_changed", "settings", after={"note": "key sup3r-s3cret-value rotated"})
    assert "sup3r-s3cret-value" not in audit.entries(db)["after_json"][0]


def test_config_changes_are_recorded_once_per_change() -> None:
    db = warehouse_path()
    base = load_settings()
    first = audit.record_config_if_changed(db, base, env="dev", actor="user", run_id="a")
    assert first is not None and json.loads(first["after_json"])["hash"] == audit.config_fingerprint(base)
    assert audit.record_config_if_changed(db, base, env="dev", run_id="b") is None  # unchanged: nothing appended
    flipped = override(base, "flags.maker_first", "true")
    second = audit.record_config_if_changed(db, flipped, env="dev", run_id="c")
    after, before = json.loads(second["after_json"]), json.loads(second["before_json"])
    assert after["changed_sections"] == ["flags"]
    assert before["changed"]["flags"]["maker_first"] is None and after["config"]["flags"]["maker_first"] is True
    assert len(audit.entries(db)) == 2 and audit.verify_chain(db).ok


def test_asset_check_fails_naming_the_tampered_entry() -> None:
    from dca_pipeline.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        job = defs.get_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, asset_selection=[audit_key()], tags={"dagster/schedule_name": "x"})
        assert result.success
        db = warehouse_path()
        log = audit.entries(db)
        assert log["action"].to_list() == ["config_changed"] and log["actor"][0] == "schedule"
        audit.append(db, "order_sent", "DOT/BRL", actor="user")
        with duck.transaction(db) as cur:
            cur.execute("update governance.audit_log set subject = 'SOL/BRL' where seq = 2")
        result = job.execute_in_process(instance=instance, asset_selection=[audit_key()], raise_on_error=False)
    evals = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evals) == 1 and not evals[0].passed
    assert "entry 2" in evals[0].description and evals[0].metadata["first_bad_seq"].value == 2


def audit_key():  # noqa: ANN201
    from dagster import AssetKey

    return AssetKey("config_audit")


def test_order_events_use_the_known_actions() -> None:
    db = warehouse_path()
    order = {"order_id": "o-1", "symbol": "ADA/BRL", "amount_centavos": 1500, "status": "planned"}
    audit.record_order_event(db, "order_planned", order, actor="schedule", run_id="r")
    audit.record_order_event(db, "order_cancelled", {**order, "status": "cancelled"}, actor="user", run_id="r2",
                             before=order)
    log = audit.entries(db)
    assert log["action"].to_list() == ["order_planned", "order_cancelled"] and set(log["subject"]) == {"o-1"}
    assert json.loads(log["before_json"][1])["status"] == "planned"
    with pytest.raises(ValueError, match="order_sent"):
        audit.record_order_event(db, "order_teleported", order, actor="user", run_id="r")
