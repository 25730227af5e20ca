"""Fixtures for the live-connector tests: the loopback exchange and a recording fake clock."""
from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from dca_pipeline.ingestion.ccxt_source import CcxtSource
from dca_pipeline.ingestion.retry import RequestBudget, RetrySettings
from dca_pipeline_tests.ingestion.fake_exchange import FakeExchangeServer


class FakeClock:
    """A monotonic clock that only moves when something sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeExchangeServer]:
    srv = FakeExchangeServer()
    yield srv
    srv.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


RETRY = RetrySettings(max_attempts=4, base_delay_s=0.5, max_delay_s=30.0)


def mb_source(server: FakeExchangeServer, clock: FakeClock, per_minute: int = 1000, **kwargs) -> CcxtSource:  # noqa: ANN003
    """The real ccxt adapter pointed at the loopback server, sleeping on the fake clock (no real waits)."""
    kwargs.setdefault("retry", RETRY)
    kwargs.setdefault("timeout_ms", 400)
    return CcxtSource(
        base_url=server.mb_url, sleep=clock.sleep, rng=random.Random(3),
        budget=RequestBudget(per_minute, sleep=clock.sleep, clock=clock), **kwargs,
    )
