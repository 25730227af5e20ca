"""The warehouse resource is dagster-duckdb's DuckDBResource and keeps the project's connection behaviour:
one process-wide connection per file, the encrypted ledger, and assets using `get_connection()`."""
import duckdb
import polars as pl
import pytest
from dagster import asset, materialize
from dagster_duckdb import DuckDBResource

from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck


def test_warehouse_is_a_duckdb_resource_on_the_dca_home_file() -> None:
    w = Warehouse()
    assert isinstance(w, DuckDBResource) and w.db() == warehouse_path()
    with w.get_connection() as con:
        con.execute("create table t as select 42 as x")
    # same process-wide connection as the storage helpers: the table is visible there at once
    assert duck.query(warehouse_path(), "select x from t")["x"].to_list() == [42]


def test_connection_config_is_applied() -> None:
    with Warehouse(connection_config={"threads": 1}).get_connection() as con:
        assert con.execute("select current_setting('threads')").fetchone()[0] == 1


def test_asset_writes_through_get_connection_and_the_file_is_released_after_the_run() -> None:
    @asset
    def tiny(warehouse: Warehouse) -> None:
        with warehouse.get_connection() as con:
            con.execute("create schema if not exists s; create or replace table s.tiny as select 1 as a, 2 as b")

    assert materialize([tiny], resources={"warehouse": Warehouse()}).success
    # teardown closed the process's connections: a plain duckdb connection may open the file now
    with duckdb.connect(str(warehouse_path())) as con:
        assert con.execute("select a + b from s.tiny").fetchone() == (3,)


def test_encrypted_warehouse_through_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_LEDGER_KEY", "k" * 32)
    with Warehouse().get_connection() as con:
        con.execute("create table secret as select 'brl' as c")
    assert duck.is_encrypted(warehouse_path())
    duck.close_all()
    with pytest.raises(duckdb.Error):  # a plain connection cannot read the file without the key
        duckdb.connect(str(warehouse_path())).execute("select * from secret")
    with Warehouse().get_connection() as con:
        assert con.execute("select c from secret").fetchall() == [("brl",)]
    assert isinstance(duck.query(warehouse_path(), "select c from secret"), pl.DataFrame)
