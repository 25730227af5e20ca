"""Storage's resource: the DuckDB warehouse (paths and connections come from here, not from `paths`)."""

from pathlib import Path

from dagster import ConfigurableResource

from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse file (empty path: $DCA_HOME/warehouse.duckdb)."""

    path: str = ""

    def db(self) -> Path:
        return Path(self.path) if self.path else warehouse_path()

    def home(self) -> Path:
        """The state directory the warehouse file lives in ($DCA_HOME by default)."""
        return self.db().parent

    def reports_dir(self) -> Path:
        """Where HTML reports go (created on first use)."""
        out = self.home() / "reports"
        out.mkdir(parents=True, exist_ok=True)
        return out

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        """Release the file lock as soon as the run (or step) is done."""
        duck.close_all()
