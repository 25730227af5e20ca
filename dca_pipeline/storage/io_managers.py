"""Dagster IO managers: raw partitions as Parquet files, tables as `<group>.<asset>` in the DuckDB warehouse."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext

from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck, parquet_store


def _partition_keys(context: InputContext | OutputContext, column: str) -> list[str]:
    """Partition keys of the window, derived from dates (Dagster's own key listing is slow on long histories)."""
    start, end = _window_dates(context)  # type: ignore[misc]
    keys: list[str] = []
    day = start
    while day < end:
        keys.append(day.isoformat())
        if column == "month":
            day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        else:
            day += timedelta(days=1)
    return keys


def _window_dates(context: InputContext | OutputContext) -> tuple[date, date] | None:
    """[start, end) of the partition window as dates, or None when unpartitioned."""
    if not context.has_asset_partitions:
        return None
    window = context.asset_partitions_time_window
    return window.start.date(), window.end.date()


class ParquetPartitionIOManager(ConfigurableIOManager):
    """Stores a partitioned frame in the Hive layout `$DCA_HOME/raw/<dataset>/<column>=<key>/data.parquet`.

    The dataset is the asset's `dataset` metadata (default: `storage.parquet_store.dataset_for(asset)`, so
    `raw_ohlcv_1d` lands in `ohlcv_1d`). Rows are assigned to partitions by the `partition_column` metadata
    (default `date`); a frame spanning several partitions (single-run backfill) is split, and each file is
    replaced atomically, so re-materializing never duplicates rows.
    """

    root: str = ""

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        """Raw assets write their quarantine rows to the warehouse: release its file lock when the run/step ends."""
        duck.close_all()

    def _root(self) -> Path | None:
        return Path(self.root) if self.root else None

    @staticmethod
    def _asset_metadata(context: InputContext | OutputContext) -> dict:
        """The stored asset's own metadata (for an input: the upstream asset's, not the input's)."""
        if isinstance(context, InputContext) and context.upstream_output is not None:
            return dict(context.upstream_output.definition_metadata or {})
        return dict(context.definition_metadata or {})

    def _dataset(self, context: InputContext | OutputContext) -> str:
        meta = self._asset_metadata(context)
        return str(meta.get("dataset") or parquet_store.dataset_for(context.asset_key.path[-1]))

    def _column(self, context: InputContext | OutputContext) -> str:
        return str(self._asset_metadata(context).get("partition_column", "date"))

    def handle_output(self, context: OutputContext, obj: pl.DataFrame) -> None:
        if not context.has_asset_partitions:
            raise ValueError(f"{context.asset_key.to_user_string()} must be partitioned for Parquet storage")
        col = self._column(context)
        dataset = self._dataset(context)
        keys = _partition_keys(context, col)
        if col in obj.columns and len(keys) > 1:  # a range: split once, not one filter per key
            parts = {k: f.drop("__key") for (k,), f in obj.with_columns(pl.col(col).cast(pl.String).alias("__key")).partition_by("__key", as_dict=True).items()}
            empty = obj.clear()
            for key in keys:
                parquet_store.write_partition(dataset, key, parts.get(key, empty), key=col, root=self._root())
        else:
            for key in keys:
                part = obj.filter(pl.col(col).cast(pl.String) == key) if col in obj.columns else obj
                parquet_store.write_partition(dataset, key, part, key=col, root=self._root())
        folder = parquet_store.dataset_dir(dataset, self._root())
        context.add_output_metadata({"path": str(folder), "rows": len(obj), "partitions_written": len(keys)})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        if not context.has_asset_partitions:
            raise ValueError("ParquetPartitionIOManager only loads partitioned inputs")
        col, dataset = self._column(context), self._dataset(context)
        keys = _partition_keys(context, col)
        files = [parquet_store.partition_path(dataset, k, col, self._root()) for k in keys]
        present = [f for f in files if f.exists()]
        if not present:
            raise FileNotFoundError(
                f"no stored partitions of {context.asset_key.to_user_string()} for {keys[0]}..{keys[-1]}"
                f" under {parquet_store.dataset_dir(dataset, self._root())}: materialize them first"
            )
        try:  # one multi-file read (files of a dataset share its conformed schema), in parallel
            return pl.read_parquet(present, hive_partitioning=False)
        except (pl.exceptions.SchemaError, pl.exceptions.ComputeError):  # older files of another schema
            return pl.concat([pl.read_parquet(f, hive_partitioning=False) for f in present], how="vertical_relaxed")


class WarehouseIOManager(ConfigurableIOManager):
    """Stores polars frames as DuckDB tables `<group>.<asset>`; a partition's rows are replaced in one transaction.

    Daily partitions are keyed by the `date` column, monthly ones by `month` (first day of the month).
    """

    path: str = ""

    def _db(self) -> Path:
        return Path(self.path) if self.path else warehouse_path()

    def teardown_after_execution(self, context) -> None:  # noqa: ANN001
        duck.close_all()

    @staticmethod
    def _names(context: InputContext | OutputContext) -> tuple[str, str]:
        meta = context.definition_metadata or {}
        schema = meta.get("schema") or "public"
        return str(schema), context.asset_key.path[-1]

    @staticmethod
    def _partition_column(context: InputContext | OutputContext) -> str:
        meta = context.definition_metadata or {}
        return str(meta.get("partition_column", "date"))

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        schema, table = self._names(context)
        window = _window_dates(context)
        with duck.transaction(self._db()) as cur:
            if window is None:
                duck.replace_rows(cur, schema, table, obj, None)
            else:
                col = self._partition_column(context)
                duck.replace_rows(cur, schema, table, obj, f'"{col}" >= ? and "{col}" < ?', list(window))
        context.add_output_metadata({"table": f"{schema}.{table}", "rows": len(obj)})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        schema, table = self._names(context.upstream_output) if context.upstream_output else self._names(context)
        if not duck.table_exists(self._db(), schema, table):
            raise FileNotFoundError(f"table {schema}.{table} does not exist yet: materialize it first")
        window = _window_dates(context)
        if window is None:
            return duck.query(self._db(), f'select * from "{schema}"."{table}"')
        col = self._partition_column(context.upstream_output) if context.upstream_output else "date"
        return duck.query(
            self._db(), f'select * from "{schema}"."{table}" where "{col}" >= ? and "{col}" < ?', list(window)
        )

