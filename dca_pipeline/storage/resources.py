"""Storage's resource: the DuckDB warehouse (paths and connections come from here, not from `paths`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck


class Warehouse(DuckDBResource):
    """The DuckDB warehouse, as dagster-duckdb's `DuckDBResource` (empty `database`: $DCA_HOME/warehouse.duckdb).

    `get_connection()` keeps the resource's interface but yields a cursor on the process-wide connection of
    `storage.duck`, which carries what the stock resource cannot: one connection (one writer) per file per
    process, waiting up to $DCA_DUCKDB_LOCK_TIMEOUT s for another process's lock, and the encrypted ledger
    (`ATTACH ... (ENCRYPTION_KEY ...)` from $DCA_LEDGER_KEY). `connection_config` items are applied with `SET`.
    """

    database: str = Field(default="", description="DuckDB file; empty: $DCA_HOME/warehouse.duckdb")

    def db(self) -> Path:
        return Path(self.database) if self.database else warehouse_path()

    def home(self) -> Path:
        """The state directory the warehouse file lives in ($DCA_HOME by default)."""
        return self.db().parent

    def reports_dir(self) -> Path:
        """Where HTML reports go (created on first use)."""
        out = self.home() / "reports"
        out.mkdir(parents=True, exist_ok=True)
        return out

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with duck.cursor(self.db()) as cur:
            for name, value in self.connection_config.items():
                cur.execute(f"SET {name} = {duckdb_literal(value)}")
            yield cur

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        """Release the file lock as soon as the run (or step) is done."""
        duck.close_all()


def duckdb_literal(value: object) -> str:
    """A SQL literal for a `SET` value (numbers and booleans bare, text quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
