"""raw_ohlcv_1d materialized from the live ccxt source pointed at the loopback exchange."""
from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl

import pytest
from dagster import RetryPolicy, materialize

from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.ingestion import assets as ingestion
from dca_pipeline.storage import parquet_store
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager
from dca_pipeline_tests.ingestion.fake_exchange import candle

DAY = date(2021, 9, 10)
STEP_RETRIES = ingestion.raw_ohlcv_1d.op.retry_policy.max_retries  # Dagster re-runs a failed step this many times


def _live(server) -> MarketData:  # noqa: ANN001
    return MarketData(source="ccxt", base_url=server.mb_url, max_attempts=2, backoff_base_s=0.01, min_request_interval_ms=0,
                      backoff_max_s=0.02, timeout_ms=2000)


def _run(market_data: MarketData):  # noqa: ANN202
    return materialize(
        [ingestion.raw_ohlcv_1d], partition_key=DAY.isoformat(), raise_on_error=False,
        resources={"market_data": market_data, "parquet_io_manager": ParquetPartitionIOManager(), "warehouse": Warehouse()},
    )


def test_live_source_fills_the_daily_partition(server) -> None:  # noqa: ANN001
    result = _run(_live(server))
    assert result.success
    stored = pl.read_parquet(parquet_store.partition_path("ohlcv_1d", DAY))
    assert stored["symbol"].to_list() == ["BTC/BRL", "PEPE/BRL"] and stored["date"].unique().to_list() == [DAY]
    t = int(datetime(2021, 9, 10, tzinfo=timezone.utc).timestamp())
    for row in stored.iter_rows(named=True):
        o, h, l, c, v = (round(x, 10) for x in candle(row["symbol"].replace("/", "-"), t))
        assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == pytest.approx((o, h, l, c, v), rel=1e-12)
    assert server.count("/candles") == 2


def test_permanent_fault_fails_the_run_and_writes_nothing(server, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(RetryPolicy, "calculate_delay", lambda self, attempt: 0)  # keep the step retries, skip their waits
    server.fault("/candles", "503", times=None)
    result = _run(_live(server))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause else failure.step_failure_data.error.message
    assert "SourceError" in message and "ccxt:mercadobitcoin" in message and "BTC/BRL" in message
    assert "[2021-09-10T00:00:00+00:00 → 2021-09-11T00:00:00+00:00)" in message and "after 2 attempts" in message
    assert not parquet_store.partition_path("ohlcv_1d", DAY).exists()
    assert not parquet_store.stored_partitions("ohlcv_1d")  # nothing half-written anywhere
    assert server.count("/candles") == 2 * (1 + STEP_RETRIES)  # each step attempt: the client's 2 tries, then SourceError
