"""Ledger backups: consistent snapshot with manifest, retention, and a restore that reproduces the ledger exactly."""
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from dca_pipeline.config import load_settings
from dca_pipeline.governance import audit, backup, overrides
from dca_pipeline.paths import dca_home, warehouse_path
from dca_pipeline.storage import duck

KEY = "backup-test-ledger-key-0123"


def build_ledger(db: Path) -> None:
    """A small but real ledger: fills, positions and cash rows through the storage layer, plus audit entries."""
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(5)]
    fills = pl.DataFrame({"date": days, "symbol": ["ADA/BRL", "DOT/BRL", "ADA/BRL", "SOL/BRL", "DOT/BRL"],
                          "quantity": [10.5, 1.25, 9.75, 0.5, 1.0], "notional_centavos": [1500, 1200, 1500, 800, 1100],
                          "fee_centavos": [11, 9, 11, 6, 8]})
    positions = fills.group_by("symbol").agg(pl.col("quantity").sum(), pl.col("notional_centavos").sum()).sort("symbol")
    cash = pl.DataFrame({"date": days, "kind": ["contribution"] * 5, "amount_centavos": [3333] * 5})
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "execution", "fills", fills, None)
        duck.replace_rows(cur, "execution", "positions", positions, None)
        duck.replace_rows(cur, "execution", "cash_ledger", cash, None)
    for row in fills.iter_rows(named=True):
        audit.append(db, "order_filled", row["symbol"], actor="schedule", run_id=str(row["date"]), after=row)
    overrides.freeze_asset("SOL/BRL", "delisting", db=db)


def dump_tables(db: Path) -> dict[str, list]:
    """Every base table of the warehouse, fully sorted, as Python rows."""
    tables = duck.query(db, "select table_schema, table_name from information_schema.tables "
                            "where table_type = 'BASE TABLE' order by all").rows()
    return {f"{s}.{t}": duck.query(db, f'select * from "{s}"."{t}" order by all').rows() for s, t in tables}


def test_restore_into_a_fresh_home_reproduces_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    db = warehouse_path()
    build_ledger(db)
    before = dump_tables(db)
    assert set(before) >= {"execution.fills", "execution.positions", "execution.cash_ledger", "governance.audit_log"}
    snap = backup.make_backup(load_settings())
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["encrypted"] is True and manifest["audit"]["entries"] == 6 and manifest["audit"]["ok"]
    assert set(manifest["files"]) == {"warehouse.duckdb", "effective_config.yaml", "control/frozen/SOL"}
    assert b"ADA/BRL" not in (snap / "warehouse.duckdb").read_bytes()  # the backup stays encrypted
    duck.close_all()

    new_home = tmp_path / "restored_home"
    env = {**os.environ, "DCA_LEDGER_KEY": KEY}
    out = subprocess.run([sys.executable, "-m", "dca_pipeline.cli", "restore", "--from", str(snap), "--home", str(new_home)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    restored = new_home / "warehouse.duckdb"
    assert dump_tables(restored) == before
    assert audit.verify_chain(restored).ok
    assert overrides.trading_block_reason("SOL/BRL", home=new_home) == "SOL/BRL frozen: delisting"
    # refuses to overwrite the now existing ledger
    again = subprocess.run([sys.executable, "-m", "dca_pipeline.cli", "restore", "--from", str(snap), "--home", str(new_home)],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_corrupt_or_padded_backup_is_refused(tmp_path: Path) -> None:
    db = warehouse_path()
    build_ledger(db)
    snap = backup.make_backup(load_settings())
    with (snap / "effective_config.yaml").open("a") as fh:
        fh.write("# edited\n")
    with pytest.raises(backup.BackupError, match="effective_config.yaml is corrupt"):
        backup.restore(snap, tmp_path / "h1")
    assert not (tmp_path / "h1" / "warehouse.duckdb").exists()
    snap2 = backup.make_backup(load_settings(), now=datetime.now(timezone.utc) + timedelta(seconds=5))
    (snap2 / "extra.sql").write_text("drop table x")
    with pytest.raises(backup.BackupError, match="not in its manifest: extra.sql"):
        backup.restore(snap2, tmp_path / "h2")


def test_retention_keeps_the_newest_n() -> None:
    build_ledger(warehouse_path())
    settings = load_settings()
    t0 = datetime(2026, 1, 1, 5, 30, tzinfo=timezone.utc)
    made = [backup.make_backup(settings, keep=3, now=t0 + timedelta(days=i)) for i in range(5)]
    assert backup.list_backups(dca_home() / "backups") == made[-3:]


def test_ledger_backup_asset_and_schedule() -> None:
    from dca_pipeline.definitions import defs

    build_ledger(warehouse_path())
    schedule = defs.resolve_schedule_def("ledger_backup_schedule")
    assert schedule.execution_timezone == "America/Sao_Paulo" and schedule.cron_schedule == "30 2 * * *"
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("ledger_backup_job").execute_in_process(instance=instance)
    assert result.success
    snaps = backup.list_backups(dca_home() / "backups")
    assert len(snaps) == 1 and backup.verify_backup(snaps[0]).manifest["audit"]["entries"] == 6
    log = audit.entries(warehouse_path())
    assert log["action"][-1] == "ledger_backup" and log["subject"][-1] == snaps[0].name
