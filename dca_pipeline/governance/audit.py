"""Append-only audit log in the warehouse (`governance.audit_log`), each entry chained to the previous by sha256.

Every money-moving or state-changing action (order planned/approved/sent/filled/cancelled, config or flag
change, kill switch, freeze) is one entry: time (UTC), actor, run id, action, subject, before/after JSON.
`verify_chain` recomputes the chain and names the first entry that does not match.
"""
from __future__ import annotations

import hashlib
from contextvars import ContextVar
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from dca_pipeline.storage import duck

SCHEMA, TABLE = "governance", "audit_log"
QUALIFIED = f"{SCHEMA}.{TABLE}"
GENESIS = "0" * 64
ACTORS = ("schedule", "sensor", "user", "system")
CREATE_SQL = f"""
create table if not exists {QUALIFIED} (
    seq bigint primary key, "at" timestamp not null, actor varchar not null, run_id varchar not null,
    action varchar not null, subject varchar not null, before_json varchar, after_json varchar,
    prev_hash varchar not null, hash varchar not null
)"""
COLUMNS = ("seq", "at", "actor", "run_id", "action", "subject", "before_json", "after_json", "prev_hash", "hash")


def _canonical(value: Any) -> str | None:
    """Stable JSON (sorted keys, no spaces) so the same content always hashes the same."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(seq: int, at: datetime, actor: str, run_id: str, action: str, subject: str,
               before_json: str | None, after_json: str | None, prev_hash: str) -> str:
    """sha256 over every field of the entry and the previous entry's hash."""
    payload = json.dumps([seq, at.isoformat(), actor, run_id, action, subject, before_json, after_json, prev_hash])
    return hashlib.sha256(payload.encode()).hexdigest()


def append(db: Path, action: str, subject: str, *, actor: str = "system", run_id: str = "",
           before: Any = None, after: Any = None, at: datetime | None = None) -> dict[str, Any]:
    """Append one entry (inside one transaction with the read of the chain head); returns the stored row."""
    with duck.transaction(db) as cur:
        return append_in(cur, action, subject, actor=actor, run_id=run_id, before=before, after=after, at=at)


def append_in(cur: Any, action: str, subject: str, *, actor: str = "system", run_id: str = "",
              before: Any = None, after: Any = None, at: datetime | None = None) -> dict[str, Any]:
    """Append one entry with an open transaction's cursor, so the audited change and its entry commit together."""
    return append_many_in(cur, [(action, subject, before, after)], actor=actor, run_id=run_id, at=at)[0]


def append_many_in(cur: Any, items: list[tuple[str, str, Any, Any]], *, actor: str = "system", run_id: str = "",
                   at: datetime | None = None) -> list[dict[str, Any]]:
    """Append (action, subject, before, after) entries in order with an open transaction's cursor: one read of the
    chain head, the hashes chained here, one insert (what a bulk write of order events audits with)."""
    from dca_pipeline.secrets import known_secrets, redact

    if not items:
        return []
    secrets = known_secrets()  # once for the batch
    when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    cur.execute(f"create schema if not exists {SCHEMA}")
    cur.execute(CREATE_SQL)
    head = cur.execute(f"select seq, hash from {QUALIFIED} order by seq desc limit 1").fetchone()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    rows = []
    for action, subject, before, after in items:
        if not action or not subject:
            raise ValueError(f"audit entry needs an action and a subject (got action={action!r}, subject={subject!r})")
        before_json, after_json = _canonical(before), _canonical(after)
        before_json = redact(before_json, secrets) if before_json else before_json  # secrets never enter the log
        after_json = redact(after_json, secrets) if after_json else after_json
        seq += 1
        digest = entry_hash(seq, when, actor, run_id, action, subject, before_json, after_json, prev)
        rows.append((seq, when, actor, run_id, action, subject, before_json, after_json, prev, digest))
        prev = digest
    if len(rows) == 1:
        cur.execute(f"insert into {QUALIFIED} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rows[0]))
    else:
        import pyarrow as pa

        batch = pa.table({c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)})  # noqa: F841 - read by name below
        cur.register("__audit_rows", batch)
        try:
            cur.execute(f"insert into {QUALIFIED} select * from __audit_rows")
        finally:
            cur.unregister("__audit_rows")
    return [dict(zip(COLUMNS, r)) for r in rows]


def entries(db: Path) -> pl.DataFrame:
    """The whole log in order (empty frame with the right columns when nothing was recorded)."""
    if not duck.table_exists(db, SCHEMA, TABLE):
        return pl.DataFrame(schema={c: pl.Utf8 for c in COLUMNS})
    return duck.query(db, f"select * from {QUALIFIED} order by seq")


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(db: Path) -> ChainStatus:
    """Recompute every hash; the first entry whose hash, link or sequence does not match is reported."""
    log = entries(db)
    prev, expected_seq = GENESIS, 1
    for row in log.iter_rows(named=True):
        seq = row["seq"]
        if seq != expected_seq:
            return ChainStatus(False, len(log), expected_seq, f"entry {expected_seq} is missing (found {seq} next)")
        if row["prev_hash"] != prev:
            return ChainStatus(False, len(log), seq, f"entry {seq} does not link to entry {seq - 1}'s hash")
        digest = entry_hash(seq, row["at"], row["actor"], row["run_id"], row["action"], row["subject"],
                            row["before_json"], row["after_json"], row["prev_hash"])
        if digest != row["hash"]:
            return ChainStatus(False, len(log), seq, f"entry {seq} ({row['action']} {row['subject']}) was altered")
        prev, expected_seq = row["hash"], seq + 1
    return ChainStatus(True, len(log))


def config_fingerprint(settings: Any) -> str:
    """sha256 of the effective (validated, overlay-merged) configuration."""
    return hashlib.sha256(_canonical(settings.model_dump(mode="json")).encode()).hexdigest()


def record_config_if_changed(db: Path, settings: Any, *, env: str, actor: str = "system", run_id: str = "") -> dict | None:
    """Append a `config_changed` entry when the effective config differs from the last recorded one.

    Before/after hold the changed top-level sections (flags included), so the log shows what changed."""
    current = settings.model_dump(mode="json")
    digest = config_fingerprint(settings)
    last = None
    if duck.table_exists(db, SCHEMA, TABLE):
        rows = duck.query(db, f"select after_json from {QUALIFIED} where action = 'config_changed' order by seq desc limit 1")
        last = json.loads(rows["after_json"][0]) if len(rows) else None
    if last is not None and last.get("hash") == digest:
        return None
    previous = (last or {}).get("config", {})
    changed = sorted(k for k in set(current) | set(previous) if current.get(k) != previous.get(k))
    before = {"hash": (last or {}).get("hash"), "changed": {k: previous.get(k) for k in changed}} if last else None
    after = {"hash": digest, "env": env, "changed_sections": changed, "config": current}
    return append(db, "config_changed", "settings", actor=actor, run_id=run_id, before=before, after=after)


def actor_from_tags(tags: dict[str, str]) -> str:
    """Who started a Dagster run: `schedule`, `sensor`, else `user` (launched from the UI/CLI)."""
    if tags.get("dagster/schedule_name"):
        return "schedule"
    if tags.get("dagster/sensor_name"):
        return "sensor"
    return "user"


ORDER_ACTIONS = (
    "order_planned", "order_pending_approval", "order_approved", "order_sent", "order_partially_filled", "order_filled",
    "order_cancelled", "order_expired", "order_rejected",
)

_ACTOR: ContextVar[tuple[str, str]] = ContextVar("dca_audit_actor", default=("system", ""))


def set_actor(actor: str, run_id: str) -> None:
    """Who is acting in this run (set by the execution assets from the Dagster run), for order entries."""
    _ACTOR.set((actor, run_id))


def current_actor() -> tuple[str, str]:
    return _ACTOR.get()


def record_order_event(db: Path, action: str, order: dict[str, Any], *, actor: str, run_id: str,
                       before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Audit one order state change (subject = the order's id, else its symbol); `action` must be an ORDER_ACTIONS name."""
    if action not in ORDER_ACTIONS:
        raise ValueError(f"unknown order action {action!r}; allowed: {', '.join(ORDER_ACTIONS)}")
    subject = str(order.get("order_id") or order.get("client_order_id") or order.get("symbol") or "")
    return append(db, action, subject, actor=actor, run_id=run_id, before=before, after=order)
