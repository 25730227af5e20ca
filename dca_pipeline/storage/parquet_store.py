"""Hive-partitioned Parquet store: `$DCA_HOME/raw/<dataset>/<key>=<value>/data.parquet`, read back with DuckDB.

Each partition is written to a temp file in its own folder and `os.replace`d, so a reader sees the old file or
the new one, never half a file; readers push date/symbol filters into DuckDB, which opens only the partitions
(and row groups) in range.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from dca_pipeline.paths import dca_home

FILE_NAME = "data.parquet"
PARTITION_KEY = "date"

# canonical column types of the datasets the pipeline writes (other datasets keep their frame's schema)
TS = pl.Datetime("us", "UTC")
OHLCV_SCHEMA = {
    "symbol": pl.String, "date": pl.Date, "ts": TS, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
    "close": pl.Float64, "volume": pl.Float64, "volume_brl": pl.Float64, "filled": pl.Boolean,
}
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "ohlcv_1m": OHLCV_SCHEMA,
    "ohlcv_1h": OHLCV_SCHEMA,
    "ohlcv_5m": OHLCV_SCHEMA,
    "order_book": {
        "symbol": pl.String, "date": pl.Date, "ts": TS, "side": pl.String, "level": pl.Int64, "price": pl.Float64,
        "amount": pl.Float64,
    },
    "trades": {
        "symbol": pl.String, "date": pl.Date, "ts": TS, "trade_id": pl.String, "side": pl.String, "price": pl.Float64,
        "amount": pl.Float64,
    },
}
# which raw asset stores into which dataset (everything else: dataset = asset name)
DATASET_OF_ASSET = {
    "raw_ohlcv_1d": "ohlcv_1d", "raw_ohlcv_1h": "ohlcv_1h", "raw_ohlcv_1m": "ohlcv_1m",
    "order_book_snapshots": "order_book", "raw_trades": "trades", "raw_ohlcv_5m": "ohlcv_5m",
}


def dataset_for(asset: str) -> str:
    return DATASET_OF_ASSET.get(asset, asset)


def raw_root() -> Path:
    return dca_home() / "raw"


def dataset_dir(dataset: str, root: Path | None = None) -> Path:
    return (root or raw_root()) / dataset


def partition_path(dataset: str, value: date | str, key: str = PARTITION_KEY, root: Path | None = None) -> Path:
    """Where one partition lives: `<root>/<dataset>/<key>=<value>/data.parquet`."""
    return dataset_dir(dataset, root) / f"{key}={value}" / FILE_NAME


def conform(dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Cast a frame to its dataset's canonical schema (an empty frame gets the full schema)."""
    schema = SCHEMAS.get(dataset)
    if schema is None:
        return frame
    if frame.is_empty() and not frame.columns:
        return pl.DataFrame(schema=schema)
    defaults = {"filled": pl.lit(False), "date": pl.col("ts").cast(TS).dt.date()}
    frame = frame.with_columns(expr.alias(c) for c, expr in defaults.items() if c in schema and c not in frame.columns)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{dataset}: frame lacks columns {missing} (has {frame.columns})")
    extra = [c for c in frame.columns if c not in schema]
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()] + extra)


def sort_key(frame: pl.DataFrame) -> list[str]:
    """Rows are stored by symbol then time (`ts`, else `date`/`month`) so row-group statistics prune symbols."""
    cols = [c for c in ("symbol", "ts", "date", "month", "side", "level", "trade_id") if c in frame.columns]
    time_cols = [c for c in ("ts", "date", "month") if c in cols]
    return [c for c in cols if c == "symbol"] + time_cols[:1] + [c for c in ("side", "level", "trade_id") if c in cols]


def write_partition(
    dataset: str, value: date | str, frame: pl.DataFrame, key: str = PARTITION_KEY, root: Path | None = None
) -> Path:
    """Replace one partition atomically (temp file in the same folder, then os.replace); returns its path."""
    path = partition_path(dataset, value, key, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = conform(dataset, frame)
    order = sort_key(frame)
    if order and not frame.is_empty():
        frame = frame.sort(order, nulls_last=True, maintain_order=True)
    tmp = path.parent / f".{FILE_NAME}.{uuid.uuid4().hex}.tmp"
    try:
        frame.write_parquet(tmp, statistics=True, row_group_size=128_000)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def stored_partitions(dataset: str, key: str = PARTITION_KEY, root: Path | None = None) -> list[str]:
    """Partition values that hold a data file, sorted."""
    folder = dataset_dir(dataset, root)
    if not folder.exists():
        return []
    prefix = f"{key}="
    return sorted(
        d.name[len(prefix):] for d in folder.iterdir() if d.name.startswith(prefix) and (d / FILE_NAME).exists()
    )


def delete_partition(dataset: str, value: date | str, key: str = PARTITION_KEY, root: Path | None = None) -> bool:
    """Remove one partition's folder; True when something was removed."""
    folder = partition_path(dataset, value, key, root).parent
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def glob_for(dataset: str, root: Path | None = None) -> str:
    return str(dataset_dir(dataset, root) / "*" / FILE_NAME)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scan_sql(dataset: str, key: str = PARTITION_KEY, root: Path | None = None) -> str:
    """`read_parquet` over the dataset's glob with the partition key typed as DATE (what views and reads use)."""
    return (
        f"read_parquet({_sql_str(glob_for(dataset, root))}, hive_partitioning = true, "
        f"hive_types = {{'{key}': DATE}})"
    )


def read_range(
    dataset: str,
    start: date,
    end: date,
    symbols: Sequence[str] | None = None,
    key: str = PARTITION_KEY,
    root: Path | None = None,
) -> pl.DataFrame:
    """Rows of partitions start <= key <= end (and of `symbols` when given), pruned by DuckDB; empty if none stored.

    Partitions whose columns are all plain (`_POLARS_SAFE`) are read by polars from the listed files instead —
    the same frame (the key column from the folder name, as DuckDB's hive partitioning gives it), without
    DuckDB's scan set-up and conversion to polars, which cost about twice as much on many small files."""
    root = root or raw_root()  # resolved once, not once per partition
    values = [v for v in stored_partitions(dataset, key, root) if start.isoformat() <= v <= end.isoformat()]
    if not values:
        return pl.DataFrame(schema=SCHEMAS.get(dataset) or {})
    frame = _read_with_polars([partition_path(dataset, v, key, root) for v in values], key, symbols)
    if frame is None:
        where = [f'"{key}" between ? and ?']
        params: list[object] = [start, end]
        if symbols is not None:
            where.append("symbol in (select unnest(?::VARCHAR[]))")
            params.append(list(symbols))
        sql = f"select * from {scan_sql(dataset, key, root)} where {' and '.join(where)}"
        con = duckdb.connect()
        try:
            con.execute("set TimeZone = 'UTC'")
            frame = con.execute(sql, params).pl()
        finally:
            con.close()
    order = sort_key(frame)
    return frame.sort(order) if order else frame


# column types that read the same through polars and through DuckDB (no time zones, categories or decimals)
_POLARS_SAFE = (pl.String, pl.Date, pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Boolean)


def _read_with_polars(files: list[Path], key: str, symbols: Sequence[str] | None) -> pl.DataFrame | None:
    """The files' rows with `key` typed DATE from the folder names (overriding a column of that name, as DuckDB
    does), or None — DuckDB reads them — when a column is not of a `_POLARS_SAFE` type, the key is not a date, or
    polars cannot read them as one frame (files of different schemas)."""
    try:
        schema = pl.read_parquet_schema(files[0])
        if key in schema and schema[key] != pl.Date or not all(t in _POLARS_SAFE for c, t in schema.items() if c != key):
            return None
        scan = pl.scan_parquet([str(f) for f in files], hive_partitioning=True, hive_schema={key: pl.Date})
        if symbols is not None:
            scan = scan.filter(pl.col("symbol").is_in(list(symbols)))
        frame = scan.collect()
    except Exception:  # noqa: BLE001 - DuckDB reads them (or says what is wrong)
        return None
    return frame if all(t in _POLARS_SAFE for t in frame.dtypes) else None


def read_partition(dataset: str, value: date, key: str = PARTITION_KEY, root: Path | None = None) -> pl.DataFrame:
    """One stored partition as written (empty frame when absent)."""
    path = partition_path(dataset, value, key, root)
    if not path.exists():
        return pl.DataFrame(schema=SCHEMAS.get(dataset) or {})
    return pl.read_parquet(path, hive_partitioning=False)


def create_views(db: Path, datasets: Sequence[str] | None = None, root: Path | None = None) -> list[str]:
    """(Re)create `raw.<dataset>` views in the warehouse over each dataset's Parquet glob; returns the views made.

    A dataset without any stored partition gets no view (DuckDB cannot bind a glob that matches nothing).
    """
    from dca_pipeline.storage import duck

    base = root or raw_root()
    names = list(datasets) if datasets is not None else sorted(d.name for d in base.iterdir() if d.is_dir()) if base.exists() else []
    made = []
    with duck.transaction(db) as cur:
        cur.execute("create schema if not exists raw")
        for name in names:
            keys = {p.name.split("=", 1)[0] for p in dataset_dir(name, base).glob("*=*") if (p / FILE_NAME).exists()}
            if len(keys) != 1:
                continue
            cur.execute(f'create or replace view raw."{name}" as select * from {scan_sql(name, keys.pop(), base)}')
            made.append(f"raw.{name}")
    return made


def migrate_legacy_layout(root: Path | None = None) -> list[Path]:
    """Move files of the old flat layout (`raw/<asset>/<key>.parquet`) into the Hive layout; returns new paths."""
    base = root or raw_root()
    moved: list[Path] = []
    if not base.exists():
        return moved
    for folder in [d for d in base.iterdir() if d.is_dir()]:
        for old in sorted(folder.glob("*.parquet")):
            key = "month" if folder.name == "market_caps" else PARTITION_KEY
            new = partition_path(dataset_for(folder.name), old.stem, key, base)
            new.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)
            moved.append(new)
    return moved
