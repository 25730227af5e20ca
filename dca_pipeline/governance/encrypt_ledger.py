"""One-off migration of a plain warehouse file to an encrypted one (`dca encrypt-ledger`)."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

from dca_pipeline.secrets import read_secret
from dca_pipeline.storage import duck


def encrypt_warehouse(path: Path, key: str | None = None) -> Path:
    """Copy every table of the plain file at `path` into an encrypted file, verify row counts, then replace it.

    The key defaults to $DCA_LEDGER_KEY; the plain file is removed only after the encrypted copy checks out."""
    key = key or read_secret(duck.LEDGER_KEY_VAR, required=True)
    path = Path(path).resolve()
    tmp = path.with_name(path.name + ".encrypting")
    tmp.unlink(missing_ok=True)
    duck.close_all()
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        duck._enable_encrypted_writes(con)  # noqa: SLF001 - same policy as the connection opener
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS src (READ_ONLY)")
        con.execute(f"ATTACH '{str(tmp).replace(chr(39), chr(39) * 2)}' AS dst (ENCRYPTION_KEY '{key.replace(chr(39), chr(39) * 2)}')")
        con.execute("COPY FROM DATABASE src TO dst")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'src' and table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            a = con.execute(f'select count(*) from src."{schema}"."{table}"').fetchone()[0]
            b = con.execute(f'select count(*) from dst."{schema}"."{table}"').fetchone()[0]
            if a != b:
                raise RuntimeError(f"encrypted copy of {schema}.{table} has {b} rows, expected {a}; plain file kept")
        con.execute("DETACH dst")
        con.execute("DETACH src")
    finally:
        con.close()
    os.replace(tmp, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    return path
