"""Storage's Dagster wiring: the warehouse resource and the two IO managers (DuckDB tables, Parquet partitions)."""
from dagster import Definitions

from dca_pipeline.storage.io_managers import ParquetPartitionIOManager, WarehouseIOManager
from dca_pipeline.storage.resources import Warehouse

defs = Definitions(resources={
    "warehouse": Warehouse(),
    "warehouse_io_manager": WarehouseIOManager(),
    "parquet_io_manager": ParquetPartitionIOManager(),
})
