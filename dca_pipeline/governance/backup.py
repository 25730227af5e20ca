"""Point-in-time backups of the ledger and restore with manifest verification.

A backup is `$DCA_HOME/backups/<UTC timestamp>/`: the warehouse file copied after a CHECKPOINT while this
process holds the connection lock (no write can interleave; other processes are kept out by DuckDB's file
lock), the effective config, and `manifest.json` with the sha256 of every file plus the audit chain head.
An encrypted warehouse stays encrypted in the backup (same DCA_LEDGER_KEY to restore).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from dca_pipeline.paths import dca_home, warehouse_path
from dca_pipeline.storage import duck

MANIFEST = "manifest.json"
WAREHOUSE_FILE = "warehouse.duckdb"
CONFIG_FILE = "effective_config.yaml"
CONTROL_DIR = "control"


class BackupError(RuntimeError):
    """A backup cannot be made or restored; the message names the file and the problem."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _snapshot_warehouse(db: Path, target: Path) -> bool:
    """Checkpoint and copy the warehouse under the connection lock; returns whether it is encrypted."""
    with duck._LOCK:  # noqa: SLF001 - the same lock every read/write of this process takes
        con = duck.connection(db)
        encrypted = duck.is_encrypted(db)
        con.execute("CHECKPOINT")
        shutil.copyfile(db, target)
        wal = Path(str(db) + ".wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise BackupError(f"{wal} is not empty after CHECKPOINT; backup aborted (a transaction still open?)")
    return encrypted


def make_backup(settings, home: Path | None = None, keep: int | None = None, now: datetime | None = None) -> Path:  # noqa: ANN001
    """Snapshot warehouse, effective config and control files into backups/<timestamp>/ and prune old ones."""
    from dca_pipeline.governance import audit
    from dca_pipeline.config import active_env

    home = home or dca_home()
    db = warehouse_path() if home == dca_home() else home / WAREHOUSE_FILE
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    root = home / "backups"
    target = root / stamp
    if target.exists():
        raise BackupError(f"backup {target} already exists")
    tmp = root / f".{stamp}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with duck._LOCK:  # noqa: SLF001 - snapshot and audit head read with no write of this process in between
        encrypted = _snapshot_warehouse(db, tmp / WAREHOUSE_FILE)
        chain = audit.verify_chain(db)
        head = audit.entries(db).tail(1)
    (tmp / CONFIG_FILE).write_text(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False))
    control = home / CONTROL_DIR
    if control.exists():
        shutil.copytree(control, tmp / CONTROL_DIR)
    files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest = {
        "created_at": (now or datetime.now(timezone.utc)).isoformat(), "env": active_env(), "encrypted": encrypted,
        "audit": {"entries": chain.entries, "ok": chain.ok, "head_hash": head["hash"][0] if len(head) else None},
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.rename(target)  # a backup directory without .partial is always complete
    prune_backups(root, keep if keep is not None else settings.governance.backup_keep)
    return target


def list_backups(root: Path) -> list[Path]:
    """Complete backups, oldest first."""
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists())


def prune_backups(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns the deleted ones."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    old = list_backups(root)[:-keep]
    for path in old:
        shutil.rmtree(path)
    return old


@dataclass(frozen=True)
class Verified:
    manifest: dict
    files: list[str]


def verify_backup(source: Path) -> Verified:
    """Check every file listed in the manifest exists with its sha256 and nothing unlisted was added."""
    manifest_path = source / MANIFEST
    if not manifest_path.exists():
        raise BackupError(f"{source} has no {MANIFEST}: not a dca backup")
    manifest = json.loads(manifest_path.read_text())
    listed = manifest.get("files", {})
    if WAREHOUSE_FILE not in listed:
        raise BackupError(f"{manifest_path} lists no {WAREHOUSE_FILE}")
    for rel, digest in listed.items():
        path = source / rel
        if not path.is_file():
            raise BackupError(f"backup file {path} listed in the manifest is missing")
        actual = sha256_file(path)
        if actual != digest:
            raise BackupError(f"backup file {path} is corrupt: sha256 {actual[:12]}… expected {digest[:12]}…")
    extra = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file() and p.name != MANIFEST
                   and str(p.relative_to(source)) not in listed)
    if extra:
        raise BackupError(f"backup {source} holds files not in its manifest: {', '.join(extra)}")
    return Verified(manifest, sorted(listed))


def restore(source: Path, home: Path, force: bool = False) -> Path:
    """Verify `source` and copy its warehouse and control files into `home`; then check the audit chain.

    Refuses to overwrite an existing warehouse unless `force`. Returns the restored warehouse path."""
    from dca_pipeline.governance import audit

    verified = verify_backup(source)
    home.mkdir(parents=True, exist_ok=True)
    target = home / WAREHOUSE_FILE
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; restore into a fresh home or pass --force")
    duck.close_all()
    Path(str(target) + ".wal").unlink(missing_ok=True)
    shutil.copyfile(source / WAREHOUSE_FILE, target)
    if (source / CONTROL_DIR).exists():
        shutil.copytree(source / CONTROL_DIR, home / CONTROL_DIR, dirs_exist_ok=True)
    (home / "restored_from.json").write_text(json.dumps({"source": str(source.resolve()), **verified.manifest["audit"]}))
    chain = audit.verify_chain(target)
    expected = verified.manifest["audit"]
    if chain.entries != expected["entries"] or (expected["ok"] and not chain.ok):
        raise BackupError(f"restored audit log does not match the manifest: {chain}")
    return target
