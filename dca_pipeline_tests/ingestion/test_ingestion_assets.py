"""Ingestion through Dagster: bad rows are quarantined with a reason and the checks say what and where."""
from datetime import date

import polars as pl
from dagster import AssetKey, materialize

from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.ingestion import assets as ingestion
from dca_pipeline.ingestion import quality_checks
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager
from dca_pipeline.paths import dca_home, warehouse_path
from dca_pipeline.storage.raw_store import read_quarantine

DAY = date(2021, 9, 10)
SHIB_ZERO_DAY = date(2021, 3, 10)  # one of SHIB's rows whose prices print as 0.0 in the Yahoo data


class BrokenSource(ReplaySource):
    """The replay data for the day, with one symbol's high corrupted and another symbol missing."""

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        bars = bars.with_columns(
            pl.when(pl.col("symbol") == "ETH/BRL").then(pl.col("low") / 2).otherwise(pl.col("high")).alias("high")
        )
        return bars.filter(pl.col("symbol") != "LINK/BRL")


class BrokenMarketData(MarketData):
    def client(self) -> ReplaySource:
        return BrokenSource()


def _run(market_data: MarketData, day: date = DAY):  # noqa: ANN202
    return materialize(
        [ingestion.raw_ohlcv_1d, quality_checks.quarantine_share, ingestion.no_missing_symbol_days],
        partition_key=day.isoformat(),
        resources={"market_data": market_data, "parquet_io_manager": ParquetPartitionIOManager(), "warehouse": Warehouse()},
        raise_on_error=False,
    )


def _checks(result) -> dict[str, object]:  # noqa: ANN001
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_day_passes_every_check() -> None:
    result = _run(MarketData(source="replay"))
    assert result.success
    checks = _checks(result)
    assert set(checks) == {"quarantine_share", "no_missing_symbol_days"}
    assert all(c.passed for c in checks.values())
    stored = pl.read_parquet(dca_home() / "raw" / "ohlcv_1d" / f"date={DAY}" / "data.parquet")
    assert stored["date"].unique().to_list() == [DAY] and stored["symbol"].n_unique() == len(stored)


def test_corrupt_row_is_quarantined_and_missing_symbol_reported() -> None:
    result = _run(BrokenMarketData(source="replay"))
    assert result.success  # quarantine keeps the stored data clean; the gap is a warning
    quarantined = read_quarantine(warehouse_path(), "raw_ohlcv_1d", DAY, DAY)
    assert quarantined.select("symbol", "reason").to_dicts() == [{"symbol": "ETH/BRL", "reason": "high below open/close"}]
    checks = _checks(result)
    assert checks["quarantine_share"].metadata["quarantined_rows"].value == 1
    missing = checks["no_missing_symbol_days"]
    assert not missing.passed
    assert missing.metadata["missing_symbol_days"].value == 2  # ETH (quarantined) and LINK (absent)
    sample = missing.metadata["sample"].value
    assert "| ETH/BRL | 2021-09-10 | high below open/close |" in sample
    assert "| LINK/BRL | 2021-09-10 | not delivered by the source |" in sample
    mat = result.asset_materializations_for_node("raw_ohlcv_1d")[0]
    assert mat.asset_key == AssetKey("raw_ohlcv_1d") and mat.metadata["quarantined_rows"].value == 1


def test_real_bad_row_in_bundle_is_quarantined() -> None:
    result = _run(MarketData(source="replay"), SHIB_ZERO_DAY)
    missing = _checks(result)["no_missing_symbol_days"]
    assert not missing.passed
    assert "| SHIB/BRL | 2021-03-10 | non-positive price |" in missing.metadata["sample"].value
