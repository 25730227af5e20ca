"""DuckDB access: a second process waits for the file lock instead of failing; transactions are all-or-nothing."""
import subprocess
import sys
import time

import polars as pl
import pytest

from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1]); con.execute("create table if not exists t(x int)"); print("locked", flush=True)
time.sleep(float(sys.argv[2])); con.close()
"""


def test_second_process_waits_for_the_lock() -> None:
    db = warehouse_path()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    start = time.monotonic()
    rows = duck.query(db, "select count(*) as n from t")
    waited = time.monotonic() - start
    holder.wait(timeout=10)
    assert rows["n"][0] == 0
    assert waited > 0.5  # it really had to wait for the other process


def test_failed_transaction_leaves_nothing_behind() -> None:
    db = warehouse_path()
    frame = pl.DataFrame({"date": [1, 2], "v": [10, 20]})
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "t", frame, None)
    with pytest.raises(RuntimeError), duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "t", pl.DataFrame({"date": [3], "v": [30]}), "date = ?", [3])
        raise RuntimeError("crash mid-write")
    assert duck.query(db, "select * from s.t order by date")["v"].to_list() == [10, 20]
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "t", pl.DataFrame({"date": [2], "v": [99]}), "date = ?", [2])
    assert duck.query(db, "select * from s.t order by date")["v"].to_list() == [10, 99]


def test_new_columns_are_added_to_an_existing_table() -> None:
    db = warehouse_path()
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "evolving", pl.DataFrame({"date": [1], "v": [10]}), None)
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "evolving", pl.DataFrame({"date": [2], "v": [20], "w": [2.5]}), "date = ?", [2])
    rows = duck.query(db, "select * from s.evolving order by date").rows()
    assert rows == [(1, 10, None), (2, 20, 2.5)]


def test_table_exists_sees_tables_and_views_of_the_catalog_queries_read(tmp_path) -> None:  # noqa: ANN001
    """A table or a view of the current catalog exists; the same name in another attached catalog does not (an
    unqualified query would not find it there)."""
    db = warehouse_path()
    other = tmp_path / "other.duckdb"
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "s", "present", pl.DataFrame({"v": [1]}), None)
        cur.execute("create or replace view s.seen as select * from s.present")
    assert duck.table_exists(db, "s", "present") and duck.table_exists(db, "s", "seen")
    assert not duck.table_exists(db, "s", "absent") and not duck.table_exists(db, "t", "present")
    with duck.cursor(db) as cur:
        cur.execute(f"attach '{other}' as other_db")
        cur.execute("create schema other_db.elsewhere")
        cur.execute("create table other_db.elsewhere.only_there (v int)")
    try:
        assert not duck.table_exists(db, "elsewhere", "only_there")
    finally:
        with duck.cursor(db) as cur:
            cur.execute("detach other_db")
