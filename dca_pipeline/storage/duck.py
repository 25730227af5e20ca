"""One DuckDB connection per warehouse file per process (DuckDB allows a single writer per file).

A connection is held for the length of a Dagster run (in-process executor) or step (multiprocess) and
closed by the resources' teardown, so another process waiting on the file lock gets it soon after; opening
retries on lock conflicts for up to $DCA_DUCKDB_LOCK_TIMEOUT seconds (default 600).

Encryption at rest: with $DCA_LEDGER_KEY (or $DCA_LEDGER_KEY_FILE) set, the file is attached encrypted
(`ATTACH ... (ENCRYPTION_KEY ...)`) and made the default catalog of every cursor, so schema-qualified SQL
(`execution.fills`) is unchanged. Required in DCA_ENV=paper|live; a missing or wrong key fails with
LedgerKeyError naming the variable and never creates an empty ledger over the encrypted file.
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

_CONNECTIONS: dict[str, duckdb.DuckDBPyConnection] = {}
_ENCRYPTED: set[int] = set()  # id() of connections whose default catalog is the attached encrypted ledger
_LOCK = threading.RLock()
LEDGER_KEY_VAR = "DCA_LEDGER_KEY"
LEDGER_CATALOG = "ledger"


class LedgerKeyError(RuntimeError):
    """The warehouse encryption key is missing, wrong or not accepted; the message names DCA_LEDGER_KEY."""


def connection(path: Path) -> duckdb.DuckDBPyConnection:
    """The process-wide connection to `path`, opened on first use."""
    key = str(Path(path).resolve())
    with _LOCK:
        con = _CONNECTIONS.get(key)
        if con is None:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            con = _connect_with_retry(key)
            _CONNECTIONS[key] = con
        return con


def _connect_with_retry(path: str) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (with jittered backoff) while another process holds its lock."""
    deadline = time.monotonic() + float(os.environ.get("DCA_DUCKDB_LOCK_TIMEOUT", "600"))
    delay = 0.05
    key = _ledger_key()
    while True:
        try:
            return _open(path, key)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)


def _ledger_key() -> str | None:
    """$DCA_LEDGER_KEY (or the file named by $DCA_LEDGER_KEY_FILE); required in the paper and live environments."""
    from dca_pipeline.config import active_env, encryption_required
    from dca_pipeline.secrets import SecretError, read_secret

    try:
        key = read_secret(LEDGER_KEY_VAR)
    except SecretError as exc:
        raise LedgerKeyError(str(exc)) from None
    env = active_env()
    if key is None and encryption_required(env):
        raise LedgerKeyError(
            f"DCA_ENV={env} requires an encrypted ledger: set {LEDGER_KEY_VAR} (or {LEDGER_KEY_VAR}_FILE)"
        )
    return key


def _open(path: str, key: str | None) -> duckdb.DuckDBPyConnection:
    """Plain `duckdb.connect(path)` without a key; with one, an in-memory connection with the file attached
    encrypted as its default catalog. Key errors become LedgerKeyError (the file is never rewritten)."""
    if key is None:
        try:
            return duckdb.connect(path)
        except duckdb.CatalogException as exc:
            if "encrypted" in str(exc).lower():
                raise LedgerKeyError(
                    f"the warehouse {path} is encrypted but {LEDGER_KEY_VAR} (or {LEDGER_KEY_VAR}_FILE) is not set"
                ) from None
            raise
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        _enable_encrypted_writes(con)
        quoted_path, quoted_key = path.replace("'", "''"), key.replace("'", "''")
        con.execute(f"ATTACH '{quoted_path}' AS {LEDGER_CATALOG} (ENCRYPTION_KEY '{quoted_key}')")
        con.execute(f"USE {LEDGER_CATALOG}")
    except duckdb.IOException:
        con.close()
        raise  # lock conflicts are retried by the caller
    except duckdb.Error as exc:
        con.close()
        text = str(exc).lower()
        if "wrong encryption key" in text:
            raise LedgerKeyError(f"{LEDGER_KEY_VAR} does not decrypt the warehouse {path} (wrong key)") from None
        if "not encrypted" in text:
            raise LedgerKeyError(
                f"{LEDGER_KEY_VAR} is set but the warehouse {path} is not encrypted; encrypt it once with "
                "`dca encrypt-ledger` (or unset the key in dev)"
            ) from None
        raise LedgerKeyError(f"cannot open the encrypted warehouse {path} with {LEDGER_KEY_VAR}: {type(exc).__name__}") from None
    _ENCRYPTED.add(id(con))
    return con


def _enable_encrypted_writes(con: duckdb.DuckDBPyConnection) -> None:
    """Writing encrypted files needs OpenSSL from the httpfs extension; without it (offline installs) DuckDB's
    built-in mbedtls is allowed explicitly (AES-GCM, weaker nonce randomness: see docs/operations.md)."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        con.execute("SET force_mbedtls_unsafe = 'true'")


def _cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor whose default catalog is the ledger (cursors do not inherit `USE`)."""
    cur = con.cursor()
    if id(con) in _ENCRYPTED:
        cur.execute(f"USE {LEDGER_CATALOG}")
    return cur


def is_encrypted(path: Path) -> bool:
    """Whether the process-wide connection to `path` reads an encrypted file."""
    return id(connection(path)) in _ENCRYPTED


def close_all() -> None:
    """Close every cached connection (tests call this between temporary homes)."""
    with _LOCK:
        for con in _CONNECTIONS.values():
            _ENCRYPTED.discard(id(con))
            con.close()
        _CONNECTIONS.clear()


@contextmanager
def transaction(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor inside BEGIN/COMMIT; rolls back on any error so a write is all-or-nothing."""
    with _LOCK:
        cur = _cursor(connection(path))
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()


@contextmanager
def cursor(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the process-wide connection (default catalog set, encrypted or not), closed on exit.
    Statements run in autocommit unless the caller opens a transaction; `transaction()` is the all-or-nothing form."""
    with _LOCK:
        cur = _cursor(connection(path))
        try:
            yield cur
        finally:
            cur.close()


def query(path: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a read query and return a polars frame (fully fetched, so the connection is free again)."""
    with _LOCK:
        cur = _cursor(connection(path))
        try:
            return cur.execute(sql, params or []).pl()
        finally:
            cur.close()


def table_exists(path: Path, schema: str, table: str) -> bool:
    """Whether `schema.table` (a table or a view) is in the catalog an unqualified query reads (the ledger's when
    encrypted). Filtering on the catalog lets DuckDB skip the other catalogs' entries: ≈1 ms instead of ≈9 ms."""
    with _LOCK:
        cur = _cursor(connection(path))
        try:
            return bool(cur.execute("select count(*) from information_schema.tables where table_catalog = current_database() "
                                    "and table_schema = ? and table_name = ?", [schema, table]).fetchone()[0])
        finally:
            cur.close()


def replace_rows(
    cur: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pl.DataFrame,
    where_sql: str | None,
    params: list | None = None,
) -> None:
    """Delete the rows matching `where_sql` (all rows when None) and insert `frame`, inside the caller's transaction.
    The table is created, or given the frame's new columns, first (when it already has every column of the frame,
    one catalog read says so and nothing else runs)."""
    arrow = frame.to_arrow()  # noqa: F841 - referenced by name in SQL below
    cur.register("__incoming", arrow)
    try:
        if not frame.columns or not set(frame.columns) <= _columns(cur, schema, table):
            cur.execute(f'create schema if not exists "{schema}"')
            cur.execute(f'create table if not exists "{schema}"."{table}" as select * from __incoming limit 0')
            _add_new_columns(cur, schema, table)
        if where_sql is None:
            cur.execute(f'delete from "{schema}"."{table}"')
        else:
            cur.execute(f'delete from "{schema}"."{table}" where {where_sql}', params or [])
        cur.execute(f'insert into "{schema}"."{table}" by name select * from __incoming')
    finally:
        cur.unregister("__incoming")


def _columns(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """The table's columns in the cursor's current catalog (empty when there is no such table)."""
    return {r[0] for r in cur.execute("select column_name from duckdb_columns() where database_name = current_database() "
                                      "and schema_name = ? and table_name = ?", [schema, table]).fetchall()}


def _add_new_columns(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Additive schema evolution: columns the incoming frame has and the table lacks are added (null for old rows)."""
    existing = _columns(cur, schema, table)
    for name, dtype, *_ in cur.execute("describe select * from __incoming").fetchall():
        if name not in existing:
            cur.execute(f'alter table "{schema}"."{table}" add column "{name}" {dtype}')
