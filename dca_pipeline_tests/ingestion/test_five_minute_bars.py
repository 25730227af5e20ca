"""Five-minute bars beside 1m/1h/1d: the Mercado Bitcoin v4 adapter (no native 5m candles: aggregated from its
minute candles) against the loopback exchange, a ccxt exchange with native 5m candles, the replay source, the
`raw_ohlcv_5m` asset with its checks, and retention. Expected bars are aggregated here by hand from the
fixture's own price path (`candle`), not by the code under test."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from dagster import materialize

from dca_pipeline.config import StorageSettings
from dca_pipeline.ingestion import quality_checks
from dca_pipeline.ingestion.ccxt_source import CcxtSource
from dca_pipeline.ingestion.errors import DataNotAvailable
from dca_pipeline.ingestion.intraday_assets import raw_ohlcv_5m
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.paths import warehouse_path
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage import parquet_store
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage.retention import apply_retention
from dca_pipeline_tests.ingestion.conftest import mb_source
from dca_pipeline_tests.ingestion.fake_exchange import EPOCH, candle

CHECKS = [quality_checks.f_quarantine, quality_checks.f_complete, quality_checks.f_fresh, quality_checks.f_anomalies]


def hand_5m(pair: str, start: datetime, n: int) -> list[tuple]:
    """n five-minute bars from the fixture's minute path: first open, max high, min low, last close, Σ volume."""
    out = []
    for i in range(n):
        t0 = start + timedelta(minutes=5 * i)
        minutes = [tuple(round(x, 10) for x in candle(pair, int((t0 + timedelta(minutes=m)).timestamp()))) for m in range(5)]
        out.append((t0, minutes[0][0], max(m[1] for m in minutes), min(m[2] for m in minutes), minutes[-1][3],
                    sum(m[4] for m in minutes), sum(m[4] * m[3] for m in minutes)))
    return out


def test_mercado_bitcoin_5m_bars_are_built_from_its_minute_candles(server, clock) -> None:  # noqa: ANN001
    src = mb_source(server, clock, page_limit=1000)
    assert src.native_timeframe("5m") == "1m"  # v4 candles: 1m, 15m, 1h, 3h, 1d, 1w, 1M
    bars = src.fetch_ohlcv("5m", EPOCH, EPOCH + timedelta(hours=1), ["PEPE/BRL"])
    assert bars.columns == ["symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl"]
    got = bars.select("ts", "open", "high", "low", "close", "volume", "volume_brl").rows()
    want = hand_5m("PEPE-BRL", EPOCH, 12)
    assert len(got) == 12
    for g, w in zip(got, want):
        assert g[0] == w[0] and g[1:] == pytest.approx(w[1:], rel=1e-9)
    assert server.count("/candles") == 1  # 60 minute candles in one page


def test_mercado_bitcoin_5m_across_pages_and_duplicates(server, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "dup", times=None)  # duplicated, shuffled minute candles
    bars = mb_source(server, clock, page_limit=25).fetch_ohlcv("5m", EPOCH, EPOCH + timedelta(minutes=50), ["BTC/BRL"])
    assert bars["ts"].to_list() == [EPOCH + timedelta(minutes=5 * i) for i in range(10)]
    got = [x for row in bars.select("open", "close", "volume").rows() for x in row]
    assert got == pytest.approx([x for w in hand_5m("BTC-BRL", EPOCH, 10) for x in (w[1], w[4], w[5])], rel=1e-9)


class Native5m:
    """A ccxt-like exchange that serves 5m candles itself (Binance does)."""

    timeframes = {"1m": "1m", "5m": "5m", "1h": "1h", "1d": "1d"}

    def __init__(self) -> None:
        self.calls: list[str] = []

    def load_markets(self) -> dict:
        return {"BTC/BRL": {"quote": "BRL", "active": True}}

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int) -> list[list[float]]:
        self.calls.append(timeframe)
        return [[since + 300_000 * i, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 2.0] for i in range(3)]


def test_an_exchange_with_native_5m_candles_is_asked_for_them() -> None:
    ex = Native5m()
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    bars = CcxtSource(exchange=ex).fetch_ohlcv("5m", start, start + timedelta(minutes=15))
    assert ex.calls == ["5m"] and bars["close"].to_list() == [101.0, 102.0, 103.0]
    assert bars["volume_brl"].to_list() == [202.0, 204.0, 206.0]


def test_an_exchange_without_a_finer_timeframe_cannot_serve_5m() -> None:
    ex = Native5m()
    ex.timeframes = {"1h": "1h", "1d": "1d"}
    with pytest.raises(DataNotAvailable, match="none of which divides 5m"):
        CcxtSource(exchange=ex).fetch_ohlcv("5m", date(2024, 5, 1), date(2024, 5, 2))


def _resources(source) -> dict:  # noqa: ANN001
    class Fake(MarketData):
        def client(self):  # noqa: ANN202
            return source

    return {"market_data": Fake(source="replay"), "parquet_io_manager": ParquetPartitionIOManager(),
            "pipeline_config": PipelineConfig(), "warehouse": Warehouse()}


def test_the_5m_asset_stores_a_full_day_and_its_checks_judge_it(server, clock) -> None:  # noqa: ANN001
    day = EPOCH.date()
    result = materialize([raw_ohlcv_5m, *CHECKS], partition_key=day.isoformat(), raise_on_error=False,
                         resources=_resources(mb_source(server, clock)))
    assert result.success
    stored = parquet_store.read_partition("ohlcv_5m", day)
    assert sorted(stored["symbol"].unique().to_list()) == ["BTC/BRL", "PEPE/BRL"]  # active BRL markets only
    assert len(stored) == 2 * 288 and not stored["filled"].any()
    first = stored.filter(pl.col("symbol") == "BTC/BRL").sort("ts").row(0, named=True)
    assert (first["open"], first["close"]) == pytest.approx(hand_5m("BTC-BRL", EPOCH, 1)[0][1:5:3], rel=1e-9)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["quarantine_share"].passed and checks["complete"].passed and checks["fresh"].passed
    assert result.asset_materializations_for_node("raw_ohlcv_5m")[0].metadata["rows"].value == 576


def test_a_gap_in_the_5m_bars_is_filled_up_to_the_policy_and_reported(server, clock) -> None:  # noqa: ANN001
    class Holey(CcxtSource):
        def fetch_ohlcv(self, timeframe, start, end, symbols=None):  # noqa: ANN001, ANN201
            bars = super().fetch_ohlcv(timeframe, start, end, ["BTC/BRL"])
            hole = [EPOCH + timedelta(minutes=m) for m in (60, 65, 70, 200, 205, 210, 215)]  # 3 then 4 missing bars
            return bars.filter(~pl.col("ts").is_in(hole))

    src = mb_source(server, clock)
    holey = Holey(exchange=src.exchange, retry=src.retry, budget=src.budget, sleep=clock.sleep)
    result = materialize([raw_ohlcv_5m, *CHECKS], partition_key=EPOCH.date().isoformat(), raise_on_error=False,
                         resources=_resources(holey))
    stored = parquet_store.read_partition("ohlcv_5m", EPOCH.date()).filter(pl.col("symbol") == "BTC/BRL")
    assert StorageSettings().max_fill_bars_5m == 3
    assert stored.filter(pl.col("filled"))["ts"].to_list() == [EPOCH + timedelta(minutes=m) for m in (60, 65, 70)]
    complete = {e.check_name: e for e in result.get_asset_check_evaluations()}["complete"]
    assert not complete.passed and complete.metadata["missing_bars"].value == 4 + 288  # the 4-bar run, and PEPE is listed but absent


def test_the_replay_source_has_no_5m_bars_and_says_so() -> None:
    result = materialize([raw_ohlcv_5m], partition_key="2021-09-10",
                         resources={"market_data": MarketData(source="replay"), "parquet_io_manager": ParquetPartitionIOManager(),
                                    "pipeline_config": PipelineConfig(), "warehouse": Warehouse()})
    meta = result.asset_materializations_for_node("raw_ohlcv_5m")[0].metadata
    assert meta["data_available"].value is False and "5m candles" in meta["note"].value


def test_5m_retention_keeps_its_configured_days() -> None:
    assert StorageSettings().retention_days()["ohlcv_5m"] == 90
    frame = pl.DataFrame({"symbol": ["X/BRL"], "ts": [datetime(2024, 1, 1, tzinfo=timezone.utc)], "open": [1.0], "high": [1.0],
                          "low": [1.0], "close": [1.0], "volume": [1.0], "volume_brl": [1.0], "filled": [False]})
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(5)]
    for d in days:
        parquet_store.write_partition("ohlcv_5m", d, parquet_store.conform("ohlcv_5m", frame.with_columns(pl.lit(d).alias("date"))))
    apply_retention({"ohlcv_5m": 2}, days[-1], warehouse_path())
    assert parquet_store.stored_partitions("ohlcv_5m") == [str(d) for d in days[-2:]]
