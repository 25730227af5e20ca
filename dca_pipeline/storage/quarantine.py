"""The quarantine table `ingestion.quarantine` in the warehouse: every rejected row, with why, where and what it was.

Rows are replaced per (dataset, partition), so rerunning a partition never duplicates them; the original row is
kept as JSON (floats as text, so NaN/inf survive) next to its reason.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from dca_pipeline.storage import duck

SCHEMA, TABLE = "ingestion", "quarantine"
COLUMNS: dict[str, pl.DataType] = {
    "dataset": pl.String, "partition": pl.String, "symbol": pl.String, "ts": pl.Datetime("us", "UTC"),
    "reason": pl.String, "source": pl.String, "quarantined_at": pl.Datetime("us", "UTC"), "row_json": pl.String,
}
DDL = f"""create table if not exists {SCHEMA}.{TABLE} (
    dataset varchar not null, "partition" varchar not null, symbol varchar, ts timestamptz, reason varchar not null,
    source varchar, quarantined_at timestamptz not null, row_json varchar not null)"""


def _row_ts(rows: pl.DataFrame) -> pl.Expr:
    """The bar/snapshot time of a row: its `ts`, else midnight UTC of its `date`, else null."""
    if "ts" in rows.columns:
        return pl.col("ts").cast(pl.Datetime("us", "UTC"), strict=False)
    if "date" in rows.columns:
        return pl.col("date").cast(pl.Date, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return pl.lit(None, dtype=pl.Datetime("us", "UTC"))


def to_records(
    dataset: str, partition: str, rows: pl.DataFrame, source: str, now: datetime | None = None
) -> pl.DataFrame:
    """Quarantine records for rejected `rows` (which carry a `reason` column); pure, no I/O."""
    if rows.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    if "reason" not in rows.columns:
        raise ValueError(f"quarantined rows of {dataset}/{partition} need a `reason` column")
    payload_cols = [c for c in rows.columns if c != "reason"]
    as_text = [
        pl.col(c).cast(pl.String) if rows.schema[c].is_float() else pl.col(c) for c in payload_cols
    ]
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    symbol = pl.col("symbol").cast(pl.String) if "symbol" in rows.columns else pl.lit(None, dtype=pl.String)
    return rows.select(
        pl.lit(dataset).alias("dataset"),
        pl.lit(partition).alias("partition"),
        symbol.alias("symbol"),
        _row_ts(rows).alias("ts"),
        pl.col("reason").cast(pl.String),
        pl.lit(source).alias("source"),
        pl.lit(stamp).cast(pl.Datetime("us", "UTC")).alias("quarantined_at"),
        pl.struct(as_text).struct.json_encode().alias("row_json"),
    )


def replace(db: Path, dataset: str, partition: str, records: pl.DataFrame) -> None:
    """Replace the quarantined rows of one (dataset, partition) in one transaction (empty records clear it)."""
    with duck.transaction(db) as cur:
        cur.execute(f"create schema if not exists {SCHEMA}")
        cur.execute(DDL)
        cur.execute(f'delete from {SCHEMA}.{TABLE} where dataset = ? and "partition" = ?', [dataset, partition])
        if not records.is_empty():
            cur.register("__quarantine", records.select(list(COLUMNS)).to_arrow())
            try:
                cur.execute(f"insert into {SCHEMA}.{TABLE} by name select * from __quarantine")
            finally:
                cur.unregister("__quarantine")


def replace_many(db: Path, dataset: str, partitions: list[str], records: pl.DataFrame) -> None:
    """`replace` for several partitions of a range in one transaction: their old rows go, `records` (whose
    `partition` is among them) come in."""
    if not partitions:
        return
    stray = set(records["partition"].unique().to_list()) - set(partitions) if len(records) else set()
    if stray:
        raise ValueError(f"quarantine records for partitions outside the range written: {sorted(stray)[:5]}")
    with duck.transaction(db) as cur:
        cur.execute(f"create schema if not exists {SCHEMA}")
        cur.execute(DDL)
        cur.execute(f'delete from {SCHEMA}.{TABLE} where dataset = ? and "partition" in (select unnest(?::VARCHAR[]))',
                    [dataset, partitions])
        if not records.is_empty():
            cur.register("__quarantine", records.select(list(COLUMNS)).to_arrow())
            try:
                cur.execute(f"insert into {SCHEMA}.{TABLE} by name select * from __quarantine")
            finally:
                cur.unregister("__quarantine")


def read(db: Path, dataset: str, start: date | str | None = None, end: date | str | None = None) -> pl.DataFrame:
    """Quarantined rows of `dataset` with start <= partition <= end (partition keys compare as ISO text)."""
    if not db.exists() or not duck.table_exists(db, SCHEMA, TABLE):
        return pl.DataFrame(schema=COLUMNS)
    sql = f'select * from {SCHEMA}.{TABLE} where dataset = ?'
    params: list[object] = [dataset]
    if start is not None:
        sql += ' and "partition" >= ?'
        params.append(str(start))
    if end is not None:
        sql += ' and "partition" <= ?'
        params.append(str(end))
    frame = duck.query(db, sql + ' order by "partition", symbol, ts', params)
    return frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"), pl.col("quarantined_at").dt.convert_time_zone("UTC"))


def delete_partitions(db: Path, dataset: str, partitions: list[str]) -> int:
    """Drop the quarantine rows of removed partitions (retention); returns how many rows went."""
    if not partitions or not db.exists() or not duck.table_exists(db, SCHEMA, TABLE):
        return 0
    with duck.transaction(db) as cur:
        n = cur.execute(
            f'select count(*) from {SCHEMA}.{TABLE} where dataset = ? and "partition" in (select unnest(?::VARCHAR[]))',
            [dataset, partitions],
        ).fetchall()[0][0]
        cur.execute(
            f'delete from {SCHEMA}.{TABLE} where dataset = ? and "partition" in (select unnest(?::VARCHAR[]))',
            [dataset, partitions],
        )
    return int(n)
