"""Daily-bar gates (reference price blocks downstream, anomalies warn), retention and listings through Dagster."""
import math
from datetime import date, timedelta

import polars as pl
from dagster import MaterializeResult, asset, materialize

from dca_pipeline.ingestion import assets as ingestion
from dca_pipeline.ingestion import quality_checks
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.ingestion.storage_assets import raw_retention, symbol_listings
from dca_pipeline.partitions import DAILY
from dca_pipeline.config import cached_settings
from dca_pipeline.paths import warehouse_path
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck, parquet_store
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager, WarehouseIOManager

DAY = date(2021, 9, 10)


def synthetic_day(day: date, spike: bool = False) -> pl.DataFrame:
    """Two coins with smooth daily closes; `spike` makes X/BRL triple on 100x volume."""
    rows = []
    for i, sym in enumerate(["X/BRL", "Y/BRL"]):
        close = (50.0 + 10 * i) * math.exp(0.01 * math.sin(day.toordinal() + i))
        volume = 1000.0 + (day.toordinal() % 3) * 10
        if spike and sym == "X/BRL":
            close, volume = close * 3, volume * 100
        rows.append((sym, day, close, close * 1.01, close * 0.99, close, volume, volume * close))
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume", "volume_brl"], orient="row")


class Source(ReplaySource):
    """Synthetic daily bars; a reference BRL price (the day's close, or 1.5x for `off_symbol`)."""

    def __init__(self, spike: bool = False, off_symbol: str | None = None) -> None:
        self.spike, self.off_symbol = spike, off_symbol

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        return pl.concat([synthetic_day(start + timedelta(days=i), self.spike) for i in range((end - start).days + 1)])

    def fetch_reference_prices_brl(self, start: date, end: date) -> pl.DataFrame:
        bars = self.fetch_ohlcv_1d(start, end)
        factor = pl.when(pl.col("symbol") == self.off_symbol).then(1.5).otherwise(1.0)
        return bars.select("symbol", "date", (pl.col("close") * factor).alias("price_brl"))


def _market(source: ReplaySource) -> MarketData:
    class Fake(MarketData):
        def client(self) -> ReplaySource:
            return source

    return Fake(source="replay")


@asset(partitions_def=DAILY, deps=[ingestion.raw_ohlcv_1d])
def orders_stand_in() -> MaterializeResult:
    """Stands for dca_orders: must not run on a day whose prices disagree with the reference."""
    return MaterializeResult()


def _run(source: ReplaySource):  # noqa: ANN202
    return materialize(
        [ingestion.raw_ohlcv_1d, quality_checks.close_matches_reference, quality_checks.quarantine_share,
         quality_checks.daily_anomalies, orders_stand_in],
        partition_key=DAY.isoformat(), raise_on_error=False,
        resources={"market_data": _market(source), "parquet_io_manager": ParquetPartitionIOManager(), "warehouse": Warehouse()},
    )


def _checks(result) -> dict:  # noqa: ANN001
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_good_day_passes_and_downstream_runs() -> None:
    result = _run(Source())
    assert result.success
    checks = _checks(result)
    assert all(c.passed for c in checks.values()) and checks["close_matches_reference"].metadata["compared"].value == 2
    assert len(result.asset_materializations_for_node("orders_stand_in")) == 1


def test_price_off_the_reference_blocks_downstream() -> None:
    result = _run(Source(off_symbol="Y/BRL"))
    check = _checks(result)["close_matches_reference"]
    assert not check.passed and check.metadata["deviating"].value == 1
    assert "| Y/BRL | 2021-09-10 |" in check.metadata["sample"].value
    assert result.asset_materializations_for_node("orders_stand_in") == []


def test_return_and_volume_anomaly_warns_with_symbol_and_date() -> None:
    for i in range(1, 31):
        day = DAY - timedelta(days=i)
        parquet_store.write_partition("ohlcv_1d", day, synthetic_day(day))
    result = _run(Source(spike=True))
    assert result.success  # a warning: the day still flows downstream
    check = _checks(result)["daily_anomalies"]
    assert not check.passed and check.metadata["return_outliers"].value == 1 and check.metadata["volume_spikes"].value == 1
    assert "| X/BRL | 2021-09-10 |" in check.metadata["outlier_sample"].value
    assert "| X/BRL | 2021-09-10 |" in check.metadata["spike_sample"].value


def test_retention_asset_reports_what_it_removed() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(35)]
    for d in days:
        parquet_store.write_partition("ohlcv_1m", d, pl.DataFrame(schema=parquet_store.SCHEMAS["ohlcv_1m"]))
        parquet_store.write_partition("ohlcv_1d", d, synthetic_day(d))
    result = materialize(
        [raw_retention], resources={"warehouse": Warehouse(), "pipeline_config": PipelineConfig()},
        run_config={"ops": {"raw_retention": {"config": {"as_of": days[-1].isoformat()}}}},
    )
    meta = result.asset_materializations_for_node("raw_retention")[0].metadata
    gone = [d.isoformat() for d in days[:5]]  # 35 days stored, 30 kept
    assert meta["removed_ohlcv_1m"].value == ", ".join(gone) and meta["removed_partitions"].value == 5
    assert meta["removed_ohlcv_1d"].value == "none" and meta["keep_days_ohlcv_1d"].value == "forever"
    assert parquet_store.stored_partitions("ohlcv_1m") == [d.isoformat() for d in days[5:]]
    assert duck.query(warehouse_path(), "select count(*) as n from raw.ohlcv_1d")["n"].item() == 70


class _BarsOnly(MarketData):
    """A source that cannot list markets: listings then come from the stored bar history alone."""

    def client(self) -> object:  # noqa: D102
        return object()


def test_symbol_listings_from_bar_history() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(20)]
    for d in days:
        bars = synthetic_day(d)
        parquet_store.write_partition("ohlcv_1d", d, bars if d <= days[9] else bars.filter(pl.col("symbol") != "X/BRL"))
    result = materialize([symbol_listings], resources={"market_data": _BarsOnly(), "warehouse_io_manager": WarehouseIOManager()})
    assert result.success
    stored = duck.query(warehouse_path(), "select * from ingestion.symbol_listings order by symbol")
    assert stored.select("symbol", "first_seen", "last_seen", "delisted_on", "active").rows() == [
        ("X/BRL", days[0], days[9], days[10], False),  # stopped trading: left with a date, still in history
        ("Y/BRL", days[0], days[19], None, True),
    ]


def test_storage_jobs_and_schedules_are_wired() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from dagster import build_schedule_context

    from dca_pipeline.definitions import defs

    for name in ("raw_maintenance_job", "intraday_job", "order_book_job"):
        assert defs.resolve_job_def(name) is not None
    sp = ZoneInfo("America/Sao_Paulo")
    repo = defs.get_repository_def()
    maintenance, intraday = defs.resolve_schedule_def("raw_maintenance_schedule"), defs.resolve_schedule_def("intraday_schedule")
    assert maintenance.execution_timezone == intraday.execution_timezone == "America/Sao_Paulo"
    with build_schedule_context(scheduled_execution_time=datetime(2021, 3, 5, 1, 20, tzinfo=sp), repository_def=repo) as ctx:
        assert intraday.evaluate_tick(ctx).run_requests[0].partition_key == "2021-03-04"  # 04:20 UTC: the 4th is closed
    with build_schedule_context(scheduled_execution_time=datetime(2021, 3, 5, 2, 30, tzinfo=sp), repository_def=repo) as ctx:
        assert maintenance.evaluate_tick(ctx).run_requests[0].run_key == "2021-03-05"
    assert maintenance.job_name == "raw_maintenance_job"


class NoReference(Source):
    def fetch_reference_prices_brl(self, start: date, end: date) -> pl.DataFrame:
        from dca_pipeline.ingestion.errors import DataNotAvailable

        raise DataNotAvailable("replay", "reference prices")


def test_missing_reference_is_unverified_a_warning_outside_live(monkeypatch) -> None:  # noqa: ANN001
    result = _run(NoReference())
    check = _checks(result)["close_matches_reference"]
    assert not check.passed and check.metadata["verified"].value is False and check.severity.value == "WARN"
    assert len(result.asset_materializations_for_node("orders_stand_in")) == 1  # a warning does not block


def test_missing_reference_blocks_in_live(monkeypatch) -> None:  # noqa: ANN001
    from dca_pipeline.config import cached_settings as settings

    monkeypatch.setattr(quality_checks, "cached_settings", lambda: settings().model_copy(update={"broker": "live"}))
    result = _run(NoReference())
    check = _checks(result)["close_matches_reference"]
    assert not check.passed and check.severity.value == "ERROR"
    assert result.asset_materializations_for_node("orders_stand_in") == []
