"""Intraday assets through Dagster with an in-test fake source: storage, idempotence, quarantine, the checks
(pass on good data, fail on planted bad data naming symbol and date), blocking, and 'data not available'."""
import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
from dagster import AssetKey, MaterializeResult, asset, materialize

from dca_pipeline.ingestion import intraday_assets, quality_checks
from dca_pipeline.ingestion.intraday_assets import DAILY, order_book_snapshots, raw_ohlcv_1h, raw_trades
from dca_pipeline.paths import warehouse_path
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import parquet_store, quarantine
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager

DAY = date(2021, 9, 10)
T0 = datetime(2021, 9, 10, tzinfo=timezone.utc)
SYMBOLS = ["A/BRL", "B/BRL", "C/BRL"]
H_CHECKS = [quality_checks.h_quarantine, quality_checks.h_complete, quality_checks.h_fresh, quality_checks.h_anomalies]


class DataNotAvailable(Exception):
    """Same name as the sources' class: the assets match it by name."""


def hourly_bars(symbols: list[str] = SYMBOLS) -> pl.DataFrame:
    """24 clean hourly bars per symbol: smooth prices (returns under 1%), steady volume."""
    rows = []
    for i, sym in enumerate(symbols):
        for h in range(24):
            close = (10.0 + i) * math.exp(0.005 * math.sin(h + i))
            rows.append((sym, T0 + timedelta(hours=h), close, close * 1.002, close * 0.998, close, 1.0 + (h % 2), close))
    return pl.DataFrame(rows, schema=["symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl"], orient="row").with_columns(
        pl.col("ts").dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    )


class FakeSource:
    """The connector interface, served from frames made in the test."""

    name = "fake"

    def __init__(self, bars: pl.DataFrame | None = None, unavailable: bool = False) -> None:
        self.bars, self.unavailable = bars, unavailable

    def markets(self) -> pl.DataFrame:
        return pl.DataFrame({"symbol": SYMBOLS, "active": [True] * 3})

    def fetch_ohlcv(self, timeframe: str, start: datetime, end: datetime, symbols: list[str] | None = None) -> pl.DataFrame:
        if self.unavailable or self.bars is None:
            raise DataNotAvailable(f"{timeframe} bars are not in this source")
        return self.bars.filter(pl.col("symbol").is_in(symbols or SYMBOLS) | pl.col("symbol").is_null())

    def fetch_trades(self, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
        if self.unavailable:
            raise DataNotAvailable("no trades")
        return pl.DataFrame({"symbol": [symbol] * 3, "ts": [start + timedelta(minutes=m) for m in (1, 2, 3)],
                             "trade_id": [f"{symbol}-1", f"{symbol}-2", f"{symbol}-2"], "side": ["buy", "sell", "sell"],
                             "price": [1.0, 1.1, 1.1], "amount": [0.5, 0.25, 0.25]})

    def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
        raise DataNotAvailable("no books")


def _market(source: FakeSource) -> MarketData:
    class Fake(MarketData):
        def client(self) -> FakeSource:
            return source

    return Fake(source="replay")


def _run(source: FakeSource, assets: list, day: date = DAY):  # noqa: ANN202
    return materialize(
        assets, partition_key=day.isoformat(), raise_on_error=False,
        resources={"market_data": _market(source), "parquet_io_manager": ParquetPartitionIOManager(), "pipeline_config": PipelineConfig(), "warehouse": Warehouse()},
    )


def _checks(result) -> dict:  # noqa: ANN001
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_hourly_day_is_stored_and_passes_every_check() -> None:
    result = _run(FakeSource(hourly_bars()), [raw_ohlcv_1h, *H_CHECKS])
    assert result.success
    checks = _checks(result)
    assert set(checks) == {"quarantine_share", "complete", "fresh", "anomalies"}
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items() if not c.passed}
    stored = parquet_store.read_partition("ohlcv_1h", DAY)
    expected = hourly_bars().sort("symbol", "ts")
    assert stored.select(expected.columns).equals(expected) and not stored["filled"].any()
    meta = result.asset_materializations_for_node("raw_ohlcv_1h")[0].metadata
    assert meta["rows"].value == 72 and meta["symbols"].value == 3 and meta["source"].value == "fake"


def test_materializing_twice_leaves_one_copy_of_every_bar() -> None:
    for _ in range(2):
        assert _run(FakeSource(hourly_bars()), [raw_ohlcv_1h]).success
    stored = parquet_store.read_range("ohlcv_1h", DAY - timedelta(days=1), DAY + timedelta(days=1))
    assert len(stored) == 72 and stored.select("symbol", "ts").n_unique() == 72


def test_planted_problems_are_quarantined_filled_and_reported() -> None:
    bars = hourly_bars()
    a_late = (pl.col("symbol") == "A/BRL") & (pl.col("ts") >= T0 + timedelta(hours=19))
    b_gap = (pl.col("symbol") == "B/BRL") & pl.col("ts").is_in([T0 + timedelta(hours=5), T0 + timedelta(hours=6)])
    bars = bars.filter(~a_late & ~b_gap)  # A stops at 18:00 (stale, 5-bar gap); B misses 2 bars (filled)
    spike = (pl.col("symbol") == "C/BRL") & (pl.col("ts") == T0 + timedelta(hours=12))
    bars = bars.with_columns(  # C jumps 3x for one hour on 200x volume
        *[pl.when(spike).then(pl.col(c) * 3).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")],
        pl.when(spike).then(300.0).otherwise(pl.col("volume")).alias("volume"),
    )
    bad_rows = pl.DataFrame({"symbol": ["B/BRL", "C/BRL"], "ts": [T0 + timedelta(hours=1), T0 + timedelta(hours=2)],
                             "open": [float("nan"), 10.0], "high": [1.0, 9.0], "low": [1.0, 9.5], "close": [1.0, 9.2],
                             "volume": [1.0, 1.0], "volume_brl": [1.0, 1.0]}).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    dup = bars.filter((pl.col("symbol") == "A/BRL") & (pl.col("ts") == T0 + timedelta(hours=3)))
    result = _run(FakeSource(pl.concat([bars, bad_rows, dup])), [raw_ohlcv_1h, *H_CHECKS])
    assert result.success  # warnings only: nothing here corrupts trading
    q = quarantine.read(warehouse_path(), "ohlcv_1h", DAY, DAY)
    assert q.select("symbol", "ts", "reason", "source").rows() == [
        ("A/BRL", T0 + timedelta(hours=3), "duplicate key", "fake"),  # a second copy of A's 03:00 bar
        ("B/BRL", T0 + timedelta(hours=1), "missing price", "fake"),
        ("C/BRL", T0 + timedelta(hours=2), "low above open/close", "fake"),
    ]
    stored = parquet_store.read_partition("ohlcv_1h", DAY)
    filled = stored.filter(pl.col("filled"))
    assert filled.select("symbol", "ts").rows() == [("B/BRL", T0 + timedelta(hours=5)), ("B/BRL", T0 + timedelta(hours=6))]
    b4 = stored.filter((pl.col("symbol") == "B/BRL") & (pl.col("ts") == T0 + timedelta(hours=4)))["close"].item()
    assert filled["close"].to_list() == [b4, b4] and filled["volume"].to_list() == [0.0, 0.0]
    checks = _checks(result)
    assert checks["quarantine_share"].passed  # 3 of 73 delivered rows quarantined: under the maximum share
    assert stored.select("symbol", "ts").n_unique() == len(stored)  # by construction: one bar per (symbol, ts)
    assert (stored["low"] <= stored["close"]).all() and (stored["high"] >= stored["open"]).all()
    complete, fresh, anomalies = checks["complete"], checks["fresh"], checks["anomalies"]
    assert not complete.passed and complete.metadata["missing_bars"].value == 5 and complete.metadata["filled_bars"].value == 2
    assert "| A/BRL | 5 | 2021-09-10 19:00:00+00:00 |" in complete.metadata["sample"].value
    assert not fresh.passed and "| A/BRL | 2021-09-10 18:00:00+00:00 |" in fresh.metadata["sample"].value
    assert not anomalies.passed and anomalies.metadata["volume_spikes"].value == 1
    assert "C/BRL | 2021-09-10 12:00:00+00:00" in anomalies.metadata["outlier_sample"].value


@asset(partitions_def=DAILY, deps=[raw_ohlcv_1h])
def hourly_consumer() -> MaterializeResult:
    """Stands for anything downstream that trades on hourly bars."""
    return MaterializeResult(metadata={"consumed": True})


def test_blocking_check_stops_downstream_in_the_same_run() -> None:
    broken = hourly_bars().with_columns(pl.col("low") * 2)  # every low above open/close: all quarantined
    result = _run(FakeSource(pl.concat([broken.head(60), hourly_bars().tail(12)])), [raw_ohlcv_1h, *H_CHECKS, hourly_consumer])
    checks = _checks(result)
    share = checks["quarantine_share"]
    assert not share.passed and share.metadata["quarantined_rows"].value == 60 and share.metadata["partition"].value == str(DAY)
    assert result.asset_materializations_for_node("hourly_consumer") == []
    assert not result.success
    good = _run(FakeSource(hourly_bars()), [raw_ohlcv_1h, *H_CHECKS, hourly_consumer])
    assert good.success and len(good.asset_materializations_for_node("hourly_consumer")) == 1


def test_unavailable_data_records_an_empty_partition() -> None:
    result = _run(FakeSource(unavailable=True), [raw_ohlcv_1h, raw_trades, order_book_snapshots, *H_CHECKS])
    assert result.success
    for node, dataset in (("raw_ohlcv_1h", "ohlcv_1h"), ("raw_trades", "trades"), ("order_book_snapshots", "order_book")):
        meta = result.asset_materializations_for_node(node)[0].metadata
        assert meta["rows"].value == 0 and meta["data_available"].value is False and meta["note"].value
        assert parquet_store.partition_path(dataset, DAY).exists() and parquet_store.read_partition(dataset, DAY).is_empty()
    assert "is not today" in result.asset_materializations_for_node("order_book_snapshots")[0].metadata["note"].value


def test_replay_source_has_no_intraday_data_and_that_is_not_an_error() -> None:
    result = materialize([raw_ohlcv_1h], partition_key=DAY.isoformat(),
                         resources={"market_data": MarketData(source="replay"), "parquet_io_manager": ParquetPartitionIOManager(), "pipeline_config": PipelineConfig(), "warehouse": Warehouse()})
    meta = result.asset_materializations_for_node("raw_ohlcv_1h")[0].metadata
    assert meta["data_available"].value is False and "fetch_ohlcv" in meta["note"].value


def test_trades_deduplicated_and_rerun_replaces() -> None:
    for _ in range(2):
        result = _run(FakeSource(), [raw_trades, quality_checks.trades_quarantine_share])
        assert len(result.asset_materializations_for_node("raw_trades")) == 1  # stored; the gate blocks what follows
    stored = parquet_store.read_partition("trades", DAY)
    assert sorted(stored["trade_id"].to_list()) == sorted(f"{s}-{i}" for s in SYMBOLS for i in (1, 2))
    q = quarantine.read(warehouse_path(), "trades", DAY, DAY)
    assert q["reason"].to_list() == ["duplicate key"] * 3
    share = _checks(result)["trades_quarantine_share"]  # 3 duplicates of 9 delivered rows: a third, over the maximum
    assert not share.passed and share.metadata["quarantined_rows"].value == 3 and share.metadata["stored_rows"].value == 6


def test_order_book_snapshots_accumulate_through_the_live_day() -> None:
    from dca_pipeline.ingestion.intraday import ingest_order_books

    class Books(FakeSource):
        def __init__(self, at: datetime) -> None:
            super().__init__()
            self.at = at

        def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
            return pl.DataFrame({"symbol": [symbol] * 4, "ts": [self.at] * 4, "side": ["bid", "bid", "ask", "ask"],
                                 "level": [1, 2, 1, 2], "price": [9.9, 9.8, 10.1, 10.2], "amount": [1.0, 2.0, 1.0, -2.0]})

    first, second = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    one = ingest_order_books(Books(first), DAY, ["A/BRL"], 2, pl.DataFrame(), now=first)
    assert len(one.rows) == 3 and one.rejected["reason"].to_list() == ["bad amount"]
    two = ingest_order_books(Books(second), DAY, ["A/BRL"], 2, one.rows, now=second)
    again = ingest_order_books(Books(second), DAY, ["A/BRL"], 2, two.rows, now=second)  # same snapshot time: replaced
    assert two.rows.select("ts").unique().sort("ts")["ts"].to_list() == [first, second]
    assert len(again.rows) == 6 and again.metadata["snapshots"] == 2


def test_order_book_keeps_every_level_of_the_depth_asked() -> None:
    """Sources number levels from 1 (best); a depth of 20 stores levels 1..20 of each side, all 40 rows."""
    from dca_pipeline.ingestion.intraday import ingest_order_books

    class Deep(FakeSource):
        def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
            n = 25  # the venue sends more than asked
            return pl.DataFrame({"symbol": [symbol] * 2 * n, "ts": [T0 + timedelta(hours=1)] * 2 * n,
                                 "side": ["bid"] * n + ["ask"] * n, "level": list(range(1, n + 1)) * 2,
                                 "price": [9.9 - i / 100 for i in range(n)] + [10.1 + i / 100 for i in range(n)],
                                 "amount": [1.0] * 2 * n})

    out = ingest_order_books(Deep(), DAY, ["A/BRL"], 20, pl.DataFrame(), now=T0 + timedelta(hours=1))
    assert len(out.rows) == 40 and out.rejected.is_empty()
    assert sorted(set(out.rows["level"].to_list())) == list(range(1, 21))
