"""prices_for_held_and_targeted: a coin held (ledger) or targeted (this month's weights) without a valid bar on
the day blocks everything downstream of raw_ohlcv_1d that day; other coins missing do not."""
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from dagster import MaterializeResult, asset, materialize

from dca_pipeline.execution import events as ev
from dca_pipeline.execution.input_checks import missing_needed_prices, needed_symbols, prices_for_held_and_targeted
from dca_pipeline.ingestion import assets as ingestion
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager
from dca_pipeline_tests.ingestion.test_daily_quality_and_maintenance import DAILY, DAY, Source, _market


class Without(Source):
    def __init__(self, dropped: str | None) -> None:
        super().__init__()
        self.dropped = dropped

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        return bars if self.dropped is None else bars.filter(pl.col("symbol") != self.dropped)


@asset(partitions_def=DAILY, deps=[ingestion.raw_ohlcv_1d])
def orders_after_prices() -> MaterializeResult:
    """Stands for dca_orders (downstream of raw_ohlcv_1d)."""
    return MaterializeResult()


def _setup_ledger_and_targets() -> None:
    db = warehouse_path()
    eve = DAY - timedelta(days=1)
    ev.append_events(db, [ev.contribution_event(eve, 10_000), ev.order_event(eve, "o1", "X/BRL", "buy", "planned", 5_000),
                          ev.order_event(eve, "o1", "X/BRL", "buy", "sent")])
    ev.append_events(db, ev.fill_events(eve, "o1", "X/BRL", "buy", 1, Decimal("0.1"), Decimal(49), 4_900, 35))
    with duck.transaction(db) as cur:
        cur.execute("create schema if not exists portfolio")
        cur.execute("create table portfolio.target_weights (month date, symbol varchar, weight double)")
        cur.execute("insert into portfolio.target_weights values (?, 'Y/BRL', 0.6), (?, 'Z/BRL', 0.0)", [DAY.replace(day=1)] * 2)
    duck.close_all()


def _run(dropped: str | None):  # noqa: ANN202
    duck.close_all()
    return materialize([ingestion.raw_ohlcv_1d, prices_for_held_and_targeted, orders_after_prices],
                       partition_key=DAY.isoformat(), raise_on_error=False,
                       resources={"market_data": _market(Without(dropped)), "parquet_io_manager": ParquetPartitionIOManager(),
                                  "warehouse": Warehouse()})


def test_needed_symbols_are_held_and_targeted_coins() -> None:
    _setup_ledger_and_targets()
    assert needed_symbols(warehouse_path(), DAY) == {"X/BRL": "held", "Y/BRL": "targeted"}  # Z has weight 0
    assert needed_symbols(warehouse_path(), DAY - timedelta(days=1)) == {"Y/BRL": "targeted"}  # nothing held yet


def test_missing_held_coin_blocks_the_day_and_a_complete_day_passes() -> None:
    _setup_ledger_and_targets()
    good = _run(None)
    assert good.success and len(good.asset_materializations_for_node("orders_after_prices")) == 1
    for dropped, as_ in (("X/BRL", "held"), ("Y/BRL", "targeted")):
        bad = _run(dropped)
        check = bad.get_asset_check_evaluations()[0]
        assert not check.passed and check.metadata["missing"].value == 1
        assert f"| {dropped} | {DAY} | {as_} | not delivered by the source |" in check.metadata["sample"].value
        assert bad.asset_materializations_for_node("orders_after_prices") == []  # the day's orders never run


def test_missing_needed_prices_names_the_quarantine_reason() -> None:
    bars = pl.DataFrame({"symbol": ["A/BRL"], "date": [DAY]})
    quarantined = pl.DataFrame({"symbol": ["B/BRL"], "date": [DAY], "reason": ["missing price"]})
    out = missing_needed_prices(bars, {DAY: {"A/BRL": "held", "B/BRL": "targeted", "C/BRL": "held"}}, quarantined)
    assert out.rows() == [("B/BRL", DAY, "targeted", "missing price"), ("C/BRL", DAY, "held", "not delivered by the source")]
