"""One DuckDB connection per warehouse file per process (DuckDB allows a single writer per file).

A connection is held for the length of a Dagster run (in-process executor) or step (multiprocess) and
closed by the resources' teardown, so another process waiting on the file lock gets it soon after; opening
retries on lock conflicts for up to $DCA_DUCKDB_LOCK_TIMEOUT seconds (default 600).
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
_LOCK = threading.RLock()


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
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)


def close_all() -> None:
    """Close every cached connection (tests call this between temporary homes)."""
    with _LOCK:
        for con in _CONNECTIONS.values():
            con.close()
        _CONNECTIONS.clear()


@contextmanager
def transaction(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor inside BEGIN/COMMIT; rolls back on any error so a write is all-or-nothing."""
    with _LOCK:
        cur = connection(path).cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()


def query(path: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a read query and return a polars frame (fully fetched, so the connection is free again)."""
    with _LOCK:
        cur = connection(path).cursor()
        try:
            return cur.execute(sql, params or []).pl()
        finally:
            cur.close()


def table_exists(path: Path, schema: str, table: str) -> bool:
    rows = query(
        path,
        "select count(*) as n from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    )
    return bool(rows["n"][0])


def replace_rows(
    cur: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pl.DataFrame,
    where_sql: str | None,
    params: list | None = None,
) -> None:
    """Delete the rows matching `where_sql` (all rows when None) and insert `frame`, inside the caller's transaction."""
    cur.execute(f'create schema if not exists "{schema}"')
    arrow = frame.to_arrow()  # noqa: F841 - referenced by name in SQL below
    cur.register("__incoming", arrow)
    try:
        cur.execute(f'create table if not exists "{schema}"."{table}" as select * from __incoming limit 0')
        _add_new_columns(cur, schema, table)
        if where_sql is None:
            cur.execute(f'delete from "{schema}"."{table}"')
        else:
            cur.execute(f'delete from "{schema}"."{table}" where {where_sql}', params or [])
        cur.execute(f'insert into "{schema}"."{table}" by name select * from __incoming')
    finally:
        cur.unregister("__incoming")


def _add_new_columns(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Additive schema evolution: columns the incoming frame has and the table lacks are added (null for old rows)."""
    existing = {
        r[0]
        for r in cur.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, table]
        ).fetchall()
    }
    for name, dtype, *_ in cur.execute("describe select * from __incoming").fetchall():
        if name not in existing:
            cur.execute(f'alter table "{schema}"."{table}" add column "{name}" {dtype}')
