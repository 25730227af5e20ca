"""Ordered failover between sources: the first that answers serves, and is recorded; all down names them all."""
from __future__ import annotations

from datetime import timedelta

import pytest

from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.failover import FailoverSource
from dca_pipeline_tests.ingestion.conftest import mb_source
from dca_pipeline_tests.ingestion.fake_exchange import EPOCH, FakeExchangeServer, candle


@pytest.fixture
def backup():  # noqa: ANN201
    srv = FakeExchangeServer()
    yield srv
    srv.close()


def _named(src, name: str):  # noqa: ANN001, ANN202
    src.name = name
    return src


def test_first_source_down_second_serves(server, backup, clock) -> None:  # noqa: ANN001
    server.fault("/mb/", "503", times=None)
    primary, secondary = _named(mb_source(server, clock), "mb-primary"), _named(mb_source(backup, clock), "mb-backup")
    failover = FailoverSource([primary, secondary])
    bars = failover.fetch_ohlcv("1h", EPOCH, EPOCH + timedelta(hours=2), ["BTC/BRL"])
    assert bars["close"].to_list() == pytest.approx([round(candle("BTC-BRL", int(EPOCH.timestamp()) + 3600 * k)[3], 10) for k in (0, 1)])
    assert failover.served_by == "mb-backup"
    assert failover.history[-1]["errors"][0].startswith("mb-primary: ") and backup.count("/candles") == 1
    book = failover.fetch_order_book("BTC/BRL", 2)
    assert failover.served_by == "mb-backup" and len(book) == 4


def test_primary_up_serves_alone(server, backup, clock) -> None:  # noqa: ANN001
    failover = FailoverSource([_named(mb_source(server, clock), "a"), _named(mb_source(backup, clock), "b")])
    failover.markets()
    assert failover.served_by == "a" and backup.hits == []


def test_both_down_error_names_both(server, backup, clock) -> None:  # noqa: ANN001
    server.fault("/candles", "500", times=None)
    backup.fault("/candles", "malformed", times=None)
    failover = FailoverSource([_named(mb_source(server, clock), "mb-primary"), _named(mb_source(backup, clock), "mb-backup")])
    with pytest.raises(SourceError) as err:
        failover.fetch_ohlcv("1d", EPOCH, EPOCH + timedelta(days=3), ["PEPE/BRL"])
    message = str(err.value)
    assert "mb-primary:" in message and "mb-backup:" in message and "PEPE/BRL" in message
    assert "ExchangeNotAvailable" in message and "malformed JSON" in message
    assert failover.served_by is None
