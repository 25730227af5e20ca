"""Dagster's SQLite event log, made cheap per event (ground floor, Dagster and SQLAlchemy only).

`dagster.yaml` names this class as the instance's `event_log_storage`. It is Dagster's own
`SqliteEventLogStorage` (same files, same schema, same queries) with these changes, because a single-run backfill
records a planned and a materialization event per partition and asset (365 days × 4 daily assets ≈ 2,900 events)
and the stock class pays for each of them separately:

1. **One engine per shard and process, pooled connections.** The stock class builds an engine and opens a new
   SQLite connection for every read and write (`NullPool`), so every event parses the schema again. Here the
   engine is kept per shard (`index`, one per run) and per process id (a forked child never uses its parent's
   connections), and SQLAlchemy's pool keeps them open. Access stays serialized by the storage's own lock. The
   schema questions Dagster asks per event (has the index this table, that column?) are answered once, when the
   answer is yes.
2. **`PRAGMA synchronous=NORMAL`** (the databases are in WAL mode, set by Dagster). A commit no longer waits for
   an fsync; SQLite stays consistent, and a `kill -9` of any process loses nothing (the WAL is in the OS's
   cache). Only a power loss or kernel crash may drop the last transactions: those events are gone as if the
   run had died just before them, which the pipeline already survives (a partition not recorded as
   materialized is re-run, and every daily asset is idempotent). `synchronous: FULL` in the config restores
   an fsync per commit.
3. **Batches in one transaction per shard.** Dagster groups the materializations of one output's partitions and
   a run's planned events into batches when `DAGSTER_EVENT_BATCH_SIZE` > 0 (its Postgres storage writes them
   in one statement; the SQLite one stores them one by one). `batch_size` in the config sets that variable in
   the process that loads the instance, unless the environment already does, and `store_event_batch` writes a
   batch in one transaction per shard: the rows with one `executemany` each, and the asset-key table once per
   asset key (the last value of each column, which is what the event-by-event updates leave).
4. **One planned event per asset and run, recorded per partition.** The storage tells Dagster it takes a run's
   planned partitions as one subset (`supports_partition_subset_in_asset_materialization_planned_events`, which
   the stock class only answers yes to under `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`, at the cost of
   failed partitions no longer being marked failed). So Dagster builds, logs and hands over one event per asset
   instead of one per partition, and the storage records it as exactly the per-partition events Dagster would
   otherwise have sent (same order, same rows, the subset event's timestamp): every reader — failed and
   in-progress partitions, the planned-materialization queries, the run's log — finds what the stock storage
   holds. Their rows are one serialization with the partition key put in (`_planned_rows`).

`benchmarks/backfill_vs_backtest.py` prints Dagster's share of a year's backfill with the stock storage and with
this one on an on-disk instance; `dca_pipeline_tests/test_event_storage.py` checks that both record the same
events, materializations, partitions and pool slots.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any

from dagster import Field, IntSource, StringSource
from dagster._core.events import (ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
                                  AssetMaterializationPlannedData, DagsterEventType)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetKeyTable, SqlEventLogStorageTable
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy import event as sa_event
from sqlalchemy import exc as db_exc
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 1000
SYNCHRONOUS = ("NORMAL", "FULL")
# events the SQLite storage also writes to the cross-run index shard (SqliteEventLogStorage.store_event)
MIRRORED = frozenset(ASSET_EVENTS) | frozenset(ASSET_CHECK_EVENTS) | frozenset(EVENT_TYPE_TO_PIPELINE_RUN_STATUS)
# per runs folder, a new run's file as Dagster's _initdb leaves it, taken from the first one this process made
_BLANK_RUN_DB: dict[str, bytes] = {}
PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value
# the asset events whose tags Dagster indexes (SqlEventLogStorage._tags_for_asset_event: none for the others)
TAGGED = frozenset({DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_OBSERVATION.value})
# stands for the partition key in the one serialization of a subset's per-partition planned events (_planned_rows)
KEY_SENTINEL = "\x00dca_pipeline partition key\x00"


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with pooled connections, `synchronous=NORMAL` and batched writes (module docstring).

    dagster.yaml::

        event_log_storage:
          module: dca_pipeline.event_storage
          class: BatchedSqliteEventLogStorage
          config: {}   # dagster_home: defaults to $DAGSTER_HOME

    The databases go where Dagster's default storage puts them, `$DAGSTER_HOME/history/runs` (absolute:
    Dagster requires DAGSTER_HOME to be), so switching between this class and the stock one keeps the history.
    """

    def __init__(self, dagster_home: str | None = None, inst_data: ConfigurableClassData | None = None, *,
                 batch_size: int = DEFAULT_BATCH_SIZE, synchronous: str = "NORMAL") -> None:
        dagster_home = dagster_home or os.environ.get("DAGSTER_HOME")
        if not dagster_home:
            raise ValueError(
                "dca_pipeline's dagster.yaml keeps Dagster's event log under $DAGSTER_HOME/history/runs, and DAGSTER_HOME "
                "is not set: run `make dev` (which sets it to the repository), or `export DAGSTER_HOME=$PWD` first")
        if not os.path.isabs(dagster_home):
            raise ValueError(f"event_log_storage dagster_home must be an absolute path, got {dagster_home!r}")
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"event_log_storage synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        if batch_size < 0:
            raise ValueError(f"event_log_storage batch_size must be >= 0, got {batch_size}")
        self._synchronous = synchronous.upper()
        self._engines: dict[tuple[str, int], Engine] = {}
        self._tables_found: set[str] = set()
        self._asset_key_cols_found: set[str] = set()
        if batch_size:
            # Dagster reads the variable at each event (dagster/_core/instance/utils.py), in this process
            os.environ.setdefault(BATCH_ENV, str(batch_size))
        super().__init__(os.path.join(dagster_home, "history", "runs", ""), inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"dagster_home": Field(StringSource, is_required=False),
                "batch_size": Field(IntSource, is_required=False, default_value=DEFAULT_BATCH_SIZE),
                "synchronous": Field(StringSource, is_required=False, default_value="NORMAL")}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
                          ) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        key = (shard, os.getpid())
        engine = self._engines.get(key)
        if engine is None:
            # SQLAlchemy's default pool for a SQLite file keeps connections open between uses
            engine = create_engine(self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            synchronous = self._synchronous

            @sa_event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")

            self._engines[key] = engine
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # same as Dagster's, with a kept engine
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._init_shard(shard, engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _init_shard(self, shard: str, engine: Engine) -> None:
        """Dagster's `_initdb` (alembic's revision check, the tables, the WAL mode, the revision stamp: ≈ 0.1 s),
        except for a new run's file once this process has initialized one in the same folder (any instance of the
        storage there): that file is written as a copy of the first one as it was right after `_initdb` (`sqlite3`
        serialize: the tables, the stamp and WAL mode, no events), created only if no other process has created
        the file meanwhile."""
        path = self.path_for_shard(shard)
        new_run = shard != INDEX_SHARD_NAME and not os.path.exists(path)
        blank = _BLANK_RUN_DB.get(self._base_dir)
        if new_run and blank is not None and _create_file(path, blank):
            return
        self._initdb(engine)
        if new_run and blank is None:
            with closing(sqlite3.connect(path)) as con:
                _BLANK_RUN_DB[self._base_dir] = con.serialize()

    def has_table(self, table_name: str) -> bool:
        """Dagster asks this for every asset event (does the index have the tags table?) and answers with a new
        engine and connection each time. Tables only appear (`dagster instance migrate`), so a table once found is
        remembered; a missing one is asked again. Not under the storage's lock: it is called while that is held."""
        if table_name in self._tables_found:
            return True
        with self._engine(INDEX_SHARD_NAME).connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Asked for every asset event by reading the asset-key table's columns; a column once found is remembered."""
        if column_name in self._asset_key_cols_found:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_cols_found.add(column_name)
        return found

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        """Yes: a run's planned partitions of an asset come as one event, recorded per partition (module docstring, 4)."""
        return True

    def store_event(self, event: EventLogEntry) -> None:
        """Dagster's `store_event`; a planned event for a subset of partitions is recorded per partition."""
        if _planned_subset(event) is None:
            super().store_event(event)
        else:
            self.store_event_batch([event])

    def _rows(self, events: Sequence[EventLogEntry]) -> tuple[list[EventLogEntry], list[dict[str, Any]]]:
        """The events as stored, each planned subset replaced by its per-partition events, and their rows."""
        stored: list[EventLogEntry] = []
        rows: list[dict[str, Any]] = []
        for event in events:
            subset = _planned_subset(event)
            if subset is None:
                stored.append(event)
                rows.append(self._event_to_row(event))
            else:
                expanded, expanded_rows = self._planned_rows(event, subset.get_partition_keys())
                stored += expanded
                rows += expanded_rows
        return stored, rows

    def _planned_rows(self, event: EventLogEntry, keys: Sequence[str]) -> tuple[list[EventLogEntry], list[dict[str, Any]]]:
        """The planned event of each partition in `keys` — what Dagster sends when the storage does not take subsets
        (`DagsterEvent.build_asset_materialization_planned_event` per key: the subset event with `partition` set) —
        and their rows: the row of one with a stand-in key, the key put in its place in each (the serialization is
        the same but for that string; checked against `serialize_value` in the tests)."""
        dagster_event = event.get_dagster_event()
        data = dagster_event.event_specific_data

        def planned(key: str) -> EventLogEntry:
            return event._replace(dagster_event=dagster_event._replace(
                event_specific_data=AssetMaterializationPlannedData(data.asset_key, partition=key)))

        expanded = [planned(key) for key in keys]
        template = self._event_to_row(planned(KEY_SENTINEL))
        stand_in = serialize_value(KEY_SENTINEL)
        if template["event"].count(stand_in) != 1:  # cannot happen with Dagster's JSON; then serialize each
            return expanded, [self._event_to_row(e) for e in expanded]
        return expanded, [{**template, "partition": key, "event": template["event"].replace(stand_in, serialize_value(key))}
                          for key in keys]

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """What `store_event` does for each event, in order (a planned subset as its per-partition events), in one
        transaction per shard, with three economies that leave the same rows behind:

        - each event is serialized once and every shard's rows go in with one `executemany` (the index shard's
          ids, consecutive in the events' order, from `last_insert_rowid`), not one compiled statement per event;
        - the asset-key table, which `store_event` updates once per asset event (each update overwriting the
          columns the previous one set), gets one insert-or-update per asset key carrying, for each column, the
          value of the last event in the batch that sets it: the same row as the event-by-event updates;
        - so the full record of a materialization that a later one in the batch overwrites is not serialized.
        """
        if len({e.run_id for e in events}) != 1:
            super().store_event_batch(events)  # event by event, through store_event
            return
        events, rows = self._rows(events)
        if not events:
            return
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        kinds = [e.dagster_event_type if e.is_dagster_event else None for e in events]
        mirrored = [i for i, kind in enumerate(kinds) if kind in MIRRORED]
        if not mirrored:
            return
        with self.index_transaction() as conn:
            ids = _insert_with_ids(conn, [rows[i] for i in mirrored], events[0].run_id)
            assets = [(events[i], ids[n]) for n, i in enumerate(mirrored) if kinds[i] in ASSET_EVENTS]
            if assets:
                tagged = [(e, event_id) for e, event_id in assets if e.dagster_event.event_type_value in TAGGED]
                self._store_asset_event_tags(conn, [e for e, _ in tagged], [event_id for _, event_id in tagged])
                self._store_asset_key_rows(conn, assets)
            checks = [(events[i], ids[n]) for n, i in enumerate(mirrored) if kinds[i] in ASSET_CHECK_EVENTS]
        for entry, event_id in checks:
            self.store_asset_check_event(entry, event_id)

    def _store_asset_key_rows(self, conn: Connection, assets: Sequence[tuple[EventLogEntry, int]]) -> None:
        """`_store_asset_event` for a batch: per asset key, the columns each event would set, the last event's value
        winning, written with Dagster's insert-else-update. An event is asked for its columns
        (`_get_asset_entry_values`, which serializes a materialization's record) only when a later event of the
        same kind and asset key has not already set them all (the columns depend on the kind alone)."""
        has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
        keyed = [(entry, event_id, asset_key.to_string()) for entry, event_id in assets
                 if entry.dagster_event and (asset_key := entry.dagster_event.asset_key)]
        # one entry per asset key, in the order of its first event (new keys get their rows in the events' order)
        merged: dict[str, dict[str, Any]] = {key: {} for _, _, key in keyed}
        produced: dict[tuple[str, Any], set[str]] = {}
        for entry, event_id, key in reversed(keyed):
            dagster_event = entry.dagster_event
            values = merged[key]
            seen = produced.get((key, dagster_event.event_type_value))
            if seen is not None and seen <= values.keys():
                continue
            entry_values = self._get_asset_entry_values(entry, event_id, has_index_cols)
            produced[(key, dagster_event.event_type_value)] = set(entry_values)
            for column, value in entry_values.items():
                values.setdefault(column, value)
        for key, values in merged.items():
            if not values:
                continue
            try:  # as Dagster does it: a failed insert leaves a SQLite transaction usable
                conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
            except db_exc.IntegrityError:
                conn.execute(AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key))

    def dispose(self) -> None:
        super().dispose()
        for (_shard, pid), engine in list(self._engines.items()):
            if pid == os.getpid():
                engine.dispose()
        self._engines.clear()


def _create_file(path: str, data: bytes) -> bool:
    """Write `data` as a new file at `path`, whole or not at all; False when `path` exists (nothing written)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".new-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path)  # fails if the file exists, never replaces it
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _planned_subset(event: EventLogEntry):  # noqa: ANN202 - PartitionsSubset | None
    """The partitions subset of a run's planned materializations of an asset, if `event` is such an event."""
    dagster_event = event.dagster_event
    if dagster_event is None or dagster_event.event_type_value != PLANNED:
        return None
    return dagster_event.event_specific_data.partitions_subset


def _insert_with_ids(conn: Connection, rows: list[dict[str, Any]], run_id: str) -> list[int]:
    """Insert event rows of one run with one `executemany` and return their ids in the rows' order.

    The id is SQLite's rowid (INTEGER PRIMARY KEY): each insert takes the largest rowid + 1, and from the first
    insert of the transaction to its commit no other connection can write the file, so the rows get consecutive
    ids ending at `last_insert_rowid()`. (SQLAlchemy's `RETURNING` with `sort_by_parameter_order` gives the same
    ids, but for SQLite it runs one statement per row.) Checked: the range holds exactly these rows of the run."""
    conn.execute(SqlEventLogStorageTable.insert(), rows)
    last = int(conn.exec_driver_sql("select last_insert_rowid()").scalar_one())
    first = last - len(rows) + 1
    table = SqlEventLogStorageTable
    found = conn.execute(select(func.count()).where(table.c.id.between(first, last), table.c.run_id == run_id)).scalar_one()
    if found != len(rows):
        raise RuntimeError(f"event log index: {len(rows)} rows inserted for run {run_id} but {found} found at ids {first}..{last}")
    return list(range(first, last + 1))
