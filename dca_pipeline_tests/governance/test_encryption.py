"""The warehouse encrypted at rest: real files, right/wrong/missing key, environment policy, migration."""
import hashlib
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.governance.encrypt_ledger import encrypt_warehouse
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

KEY = "correct-horse-battery-staple-42"
MARKER = "PLAINTEXT_MARKER_7f3a"


def _write_fills(db: Path) -> None:
    frame = pl.DataFrame({"symbol": ["ADA/BRL", "DOT/BRL"], "note": [MARKER, "x"], "notional_centavos": [1234, 5678]})
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "execution", "fills", frame, None)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_encrypted_ledger_round_trips_and_hides_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    db = warehouse_path()
    _write_fills(db)
    assert duck.is_encrypted(db)
    # schema-qualified SQL is unchanged and reads back what was written
    rows = duck.query(db, "select symbol, notional_centavos from execution.fills order by symbol").rows()
    assert rows == [("ADA/BRL", 1234), ("DOT/BRL", 5678)]
    duck.query(db, "checkpoint")
    duck.close_all()
    raw = db.read_bytes()
    assert MARKER.encode() not in raw and b"ADA/BRL" not in raw
    # a fresh process with the key sees the same rows
    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    assert duck.query(db, "select sum(notional_centavos) as s from execution.fills")["s"][0] == 1234 + 5678


def test_missing_or_wrong_key_fails_clearly_and_leaves_the_file_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    db = warehouse_path()
    _write_fills(db)
    duck.query(db, "checkpoint")
    duck.close_all()
    before = _sha(db)

    monkeypatch.delenv("DCA_LEDGER_KEY")
    with pytest.raises(duck.LedgerKeyError, match="DCA_LEDGER_KEY"):
        duck.query(db, "select * from execution.fills")
    duck.close_all()
    monkeypatch.setenv("DCA_LEDGER_KEY", "not-the-right-key")
    with pytest.raises(duck.LedgerKeyError, match="DCA_LEDGER_KEY.*wrong key"):
        with duck.transaction(db) as cur:
            cur.execute("select 1")
    duck.close_all()
    assert _sha(db) == before  # nothing rewritten, no empty ledger created over it

    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    assert duck.query(db, "select count(*) as n from execution.fills")["n"][0] == 2


def test_key_from_file_and_in_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "ledger.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv("DCA_LEDGER_KEY_FILE", str(key_file))
    db = warehouse_path()
    _write_fills(db)
    duck.close_all()
    code = "from dca_pipeline.storage import duck; import sys; print(duck.query(sys.argv[1], 'select count(*) as n from execution.fills')['n'][0])"
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


def test_paper_and_live_require_a_key_dev_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    db = warehouse_path()
    for env in ("paper", "live"):
        monkeypatch.setenv("DCA_ENV", env)
        with pytest.raises(duck.LedgerKeyError, match=f"DCA_ENV={env} requires .*DCA_LEDGER_KEY"):
            duck.query(db, "select 1 as x")
        duck.close_all()
        assert not db.exists()
    monkeypatch.setenv("DCA_ENV", "dev")
    assert duck.query(db, "select 1 as x")["x"][0] == 1
    assert not duck.is_encrypted(db)


def test_plain_ledger_with_key_set_is_refused_then_migrated(monkeypatch: pytest.MonkeyPatch) -> None:
    db = warehouse_path()
    _write_fills(db)
    duck.close_all()
    monkeypatch.setenv("DCA_LEDGER_KEY", KEY)
    with pytest.raises(duck.LedgerKeyError, match="not encrypted"):
        duck.query(db, "select 1")
    duck.close_all()
    encrypt_warehouse(db)
    assert MARKER.encode() not in db.read_bytes()
    assert duck.query(db, "select note from execution.fills order by symbol")["note"].to_list() == [MARKER, "x"]
    duck.close_all()
    monkeypatch.delenv("DCA_LEDGER_KEY")
    with pytest.raises(duck.LedgerKeyError):
        duck.query(db, "select 1")
