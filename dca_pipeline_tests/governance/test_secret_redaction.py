"""Planted secrets never reach disk or output: a real pipeline day plus a failing step that leaks them, then a scan
of every file under $DCA_HOME and $DAGSTER_HOME (DuckDB tables and Parquet dumped to text, Dagster's sqlite event
log dumped), the subprocess's stdout/stderr and every log record it emitted. Also: key rotation and the helpers."""
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from dca_pipeline.config import DEFAULT_CONFIG_PATH
from dca_pipeline import secrets
from dca_pipeline.storage import duck

PLANTED = {
    "DCA_MB_API_KEY": "PLANTED-api-key-1b2c3d",
    "DCA_MB_API_SECRET": "PLANTED-api-secret-4e5f6a",
    "DCA_MB_API_KEY_NEXT": "PLANTED-next-key-7b8c9d",
    "DCA_MB_API_SECRET_NEXT": "PLANTED-next-secret-0e1f2a",
    "DCA_LEDGER_KEY": "PLANTED-ledger-key-3b4c5d",
}
NEEDLES = [v.encode() for v in PLANTED.values()] + [b"PLANTED-"]


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run pipeline_run.py in a fresh process with the planted secrets (history from 2020 to keep it short)."""
    root = tmp_path_factory.mktemp("leak")
    home, dagster_home, records = root / "dca_home", root / "dagster_home", root / "records.log"
    dagster_home.mkdir()
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    cfg["history_start"] = "2020-01-01"
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCA_", "DAGSTER_"))}
    env.update(PLANTED, DCA_HOME=str(home), DAGSTER_HOME=str(dagster_home), DCA_CONFIG=str(config),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-m", "dca_pipeline_tests.governance.pipeline_run", str(dagster_home), str(records)],
                          capture_output=True, env=env, timeout=1500)
    (root / "stdout.txt").write_bytes(proc.stdout)
    (root / "stderr.txt").write_bytes(proc.stderr)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return {"root": root, "home": home, "dagster_home": dagster_home, "records": records, "config": config}


def _texts_of(path: Path) -> list[bytes]:
    """The raw bytes of a file plus a text dump of its contents when it is a database or a columnar file."""
    out = [path.read_bytes()]
    name = path.name
    if name.endswith(".parquet"):
        out.append(pl.read_parquet(path).write_csv().encode())
    elif name.endswith(".duckdb"):
        tables = duck.query(path, "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'")
        assert len(tables) > 0, f"{path} dumped nothing"
        for schema, table in tables.rows():
            out.append(duck.query(path, f'select * from "{schema}"."{table}"').write_csv().encode())
        duck.close_all()
    elif name.endswith(".db") and path.read_bytes()[:16].startswith(b"SQLite format 3"):
        con = sqlite3.connect(path)
        out.append("\n".join(con.iterdump()).encode())
        con.close()
    return out


def test_planted_secrets_appear_nowhere(leak_run: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_LEDGER_KEY", PLANTED["DCA_LEDGER_KEY"])  # to dump the encrypted ledger and its backup
    files = [p for base in (leak_run["home"], leak_run["dagster_home"]) for p in base.rglob("*") if p.is_file()]
    files += [leak_run["records"], leak_run["root"] / "stdout.txt", leak_run["root"] / "stderr.txt"]
    names = {p.name for p in files}
    assert "warehouse.duckdb" in names and any(n.endswith(".parquet") for n in names) and "manifest.json" in names
    assert any(n.endswith(".db") for n in names)  # Dagster's run/event-log sqlite files were written
    dumped = 0
    for path in files:
        for blob in _texts_of(path):
            dumped += 1
            for needle in NEEDLES:
                assert needle not in blob, f"secret found in {path}"
    assert dumped > len(files)  # the databases and parquet files were really dumped


def test_the_leak_happened_and_was_masked(leak_run: dict[str, Path]) -> None:
    """Not vacuous: the failing step's error and log lines are on record, with the secrets replaced by ***."""
    records = leak_run["records"].read_text()  # python loggers (Dagster's own loggers do not propagate to root)
    assert "retrying with ***" in records
    stderr = (leak_run["root"] / "stderr.txt").read_text()  # Dagster's console logger
    assert "signing request with key=*** secret=***" in stderr
    assert "authentication failed: secret *** rejected, ledger key ***" in stderr
    event_logs = b"".join(p.read_bytes() for p in leak_run["dagster_home"].rglob("*.db"))
    assert b"signing request with key=*** secret=***" in event_logs
    assert b"authentication failed: secret *** rejected, ledger key ***" in event_logs
    assert b"401 from exchange for api_key=***" in event_logs  # the exception's cause is masked too


def test_scanner_finds_a_secret_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's dumps see through compression and encryption (so a clean scan means something)."""
    frame = pl.DataFrame({"note": ["x", PLANTED["DCA_MB_API_SECRET"]] * 500})
    frame.write_parquet(tmp_path / "t.parquet", compression="zstd")
    monkeypatch.setenv("DCA_LEDGER_KEY", "scanner-test-key-123")
    db = tmp_path / "w.duckdb"
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "t", frame, None)
    duck.close_all()
    assert any(PLANTED["DCA_MB_API_SECRET"].encode() in b for b in _texts_of(tmp_path / "t.parquet"))
    assert PLANTED["DCA_MB_API_SECRET"].encode() not in db.read_bytes()
    assert any(PLANTED["DCA_MB_API_SECRET"].encode() in b for b in _texts_of(db))


def test_secret_from_file_and_rotation(tmp_path: Path) -> None:
    secret_file = tmp_path / "mb_secret"
    secret_file.write_text("file-held-secret-99\n")
    env = {"DCA_MB_API_KEY": "current-key-abc", "DCA_MB_API_SECRET_FILE": str(secret_file),
           "DCA_MB_API_KEY_NEXT": "next-key-def", "DCA_MB_API_SECRET_NEXT": "next-secret-ghi"}
    assert secrets.read_secret("DCA_MB_API_SECRET", env) == "file-held-secret-99"
    pairs = secrets.api_key_pairs(env)
    assert [p.label for p in pairs] == ["current", "next"] and "file-held" not in repr(pairs)

    def exchange_accepts(pair: secrets.ApiKeyPair) -> str:
        if pair.api_key != "next-key-def":
            raise PermissionError(f"key {pair.api_key} revoked")
        return "balance ok"

    pair, result = secrets.first_working_pair(exchange_accepts, env)
    assert (pair.label, result) == ("next", "balance ok")
    with pytest.raises(secrets.SecretError, match=r"current: PermissionError: key \*\*\* revoked; next") as err:
        secrets.first_working_pair(lambda p: (_ for _ in ()).throw(PermissionError(f"key {p.api_key} revoked")), env)
    assert "current-key-abc" not in str(err.value) and "next-key-def" not in str(err.value)
    with pytest.raises(secrets.SecretError, match="DCA_MB_API_SECRET_NEXT"):
        secrets.api_key_pairs({"DCA_MB_API_KEY_NEXT": "only-half-of-pair"})
    other = {"DCA_MERCADOBITCOIN_API_KEY": "mb-key-123456", "DCA_MERCADOBITCOIN_API_SECRET": "mb-secret-123456"}
    assert [p.api_key for p in secrets.api_key_pairs(other, prefix="DCA_MERCADOBITCOIN_")] == ["mb-key-123456"]
    with pytest.raises(secrets.SecretError, match="DCA_LEDGER_KEY_FILE"):
        secrets.read_secret("DCA_LEDGER_KEY", {"DCA_LEDGER_KEY_FILE": str(tmp_path / "missing")})


def test_redaction_helpers(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from dagster import MetadataValue

    monkeypatch.setenv("DCA_TELEGRAM_BOT_TOKEN", "123456:telegram-token-xyz")
    secrets.install_redaction()
    meta = secrets.redact_metadata({"url": "https://api/bot123456:telegram-token-xyz/send", "n": 3,
                                    "md": MetadataValue.md("token 123456:telegram-token-xyz"),
                                    "js": MetadataValue.json({"a": ["123456:telegram-token-xyz"]})})
    assert meta["url"] == "https://api/bot***/send" and meta["n"] == 3
    assert meta["md"].value == "token ***" and meta["js"].value == {"a": ["***"]}
    with caplog.at_level(logging.INFO, logger="dca_pipeline.test"):
        logging.getLogger("dca_pipeline.test").info("calling %s", "https://x/bot123456:telegram-token-xyz")
    assert caplog.records[-1].getMessage() == "calling https://x/bot***"

    @secrets.scrub_errors
    def boom() -> None:
        raise ValueError("token 123456:telegram-token-xyz refused")

    with pytest.raises(secrets.RedactedError, match=r"ValueError: token \*\*\* refused") as err:
        boom()
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_the_real_ledger_backup_restores_identically(leak_run: dict[str, Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's ledger_backup (taken after the pipeline day) restored into a fresh home equals the live ledger."""
    from dca_pipeline.governance import audit, backup
    from dca_pipeline_tests.governance.test_backup import dump_tables

    monkeypatch.setenv("DCA_LEDGER_KEY", PLANTED["DCA_LEDGER_KEY"])
    snaps = backup.list_backups(leak_run["home"] / "backups")
    assert len(snaps) == 1
    restored = backup.restore(snaps[0], tmp_path / "fresh_home")
    live, copy = dump_tables(leak_run["home"] / "warehouse.duckdb"), dump_tables(restored)
    duck.close_all()
    assert len(live["execution.positions"]) > 0 and len(live["execution.fills"]) > 0
    ledger_tables = [t for t in live if t != "governance.audit_log"]
    assert {t: copy[t] for t in ledger_tables} == {t: live[t] for t in ledger_tables}
    # the live log has one more entry: the ledger_backup record appended after the snapshot was taken
    assert copy["governance.audit_log"] == live["governance.audit_log"][:-1]
    assert live["governance.audit_log"][-1][4] == "ledger_backup"
    assert audit.verify_chain(restored).ok
