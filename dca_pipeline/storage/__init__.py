"""Storage: Parquet files for raw data, one DuckDB warehouse file for every table from features on."""
