"""prices_for_held_and_targeted: a coin held (ledger) or targeted (this month's weights) without a valid bar on
the day blocks everything downstream of raw_ohlcv_1d that day; other coins missing do not."""
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from dagster import AssetCheckSeverity, MaterializeResult, asset, materialize

from dca_pipeline.execution import events as ev
from dca_pipeline.execution.input_checks import failed_days, missing_needed_prices, needed_symbols, prices_for_held_and_targeted
from dca_pipeline.ingestion import assets as ingestion
from dca_pipeline.paths import warehouse_path
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager
from dca_pipeline_tests.ingestion.test_daily_quality_and_maintenance import DAILY, DAY, Source, _market


class Without(Source):
    def __init__(self, dropped: list[str] | None) -> None:
        super().__init__()
        self.dropped = dropped or []

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        return bars.filter(~pl.col("symbol").is_in(self.dropped))


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


def _run(dropped: list[str] | None):  # noqa: ANN202
    duck.close_all()
    return materialize([ingestion.raw_ohlcv_1d, prices_for_held_and_targeted, orders_after_prices],
                       partition_key=DAY.isoformat(), raise_on_error=False,
                       resources={"market_data": _market(Without(dropped)), "parquet_io_manager": ParquetPartitionIOManager(),
                                  "warehouse": Warehouse(), "pipeline_config": PipelineConfig()})


def test_needed_symbols_are_held_and_targeted_coins() -> None:
    _setup_ledger_and_targets()
    eve, nxt = DAY - timedelta(days=1), date(DAY.year + (DAY.month == 12), DAY.month % 12 + 1, 1)
    needs = needed_symbols(warehouse_path(), eve, nxt)  # a range: one read of the targets, the ledger after its first event
    assert needs[DAY] == {"X/BRL": "held", "Y/BRL": "targeted"}  # Z has weight 0
    assert needs[eve] == ({"Y/BRL": "targeted"} if eve.month == DAY.month else {})  # nothing held yet
    assert needs[nxt] == {"X/BRL": "held"}  # next month: no targets stored for it
    assert needed_symbols(warehouse_path(), DAY, DAY) == {DAY: needs[DAY]}


def test_source_failing_for_the_needed_coins_blocks_the_day_one_missing_coin_warns() -> None:
    _setup_ledger_and_targets()  # needed on DAY: X (held) and Y (targeted)
    good = _run(None)
    assert good.success and len(good.asset_materializations_for_node("orders_after_prices")) == 1
    for dropped, as_ in (("X/BRL", "held"), ("Y/BRL", "targeted")):  # 1 of 2 missing = 50%: not above the limit
        one = _run([dropped])
        check = one.get_asset_check_evaluations()[0]
        assert not check.passed and check.severity == AssetCheckSeverity.WARN and check.metadata["missing"].value == 1
        assert f"| {dropped} | {DAY} | {as_} | not delivered by the source |" in check.metadata["sample"].value
        assert len(one.asset_materializations_for_node("orders_after_prices")) == 1  # the day core handles one coin
    both = _run(["X/BRL", "Y/BRL"])  # the source delivered none of the coins the day needs
    check = both.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR and check.metadata["blocked_days"].value == str(DAY)
    assert both.asset_materializations_for_node("orders_after_prices") == []  # the day's orders never run


def test_failed_days_counts_the_share_per_day() -> None:
    other = DAY + timedelta(days=1)
    needs = {DAY: {"A/BRL": "held", "B/BRL": "targeted", "C/BRL": "held"}, other: {"A/BRL": "held"}}
    missing = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "A/BRL"], "date": [DAY, DAY, other]})
    assert failed_days(needs, missing, 0.5) == [DAY, other]  # 2/3 and 1/1
    assert failed_days(needs, missing, 0.7) == [other]  # 2/3 ≤ 0.7


def test_missing_needed_prices_names_the_quarantine_reason() -> None:
    bars = pl.DataFrame({"symbol": ["A/BRL"], "date": [DAY]})
    quarantined = pl.DataFrame({"symbol": ["B/BRL"], "date": [DAY], "reason": ["missing price"]})
    out = missing_needed_prices(bars, {DAY: {"A/BRL": "held", "B/BRL": "targeted", "C/BRL": "held"}}, quarantined)
    assert out.rows() == [("B/BRL", DAY, "targeted", "missing price"), ("C/BRL", DAY, "held", "not delivered by the source")]
