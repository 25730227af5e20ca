"""The ccxt source turns an exchange's daily candles into the OHLCV contract (exchange object stubbed: no network).

The HTTP-level behaviour (pagination, faults, retries) is tested against a loopback server in test_connectors.py.
"""
from datetime import date, datetime, timezone

import polars as pl

from dca_pipeline.ingestion.ccxt_source import CcxtSource


class FakeExchange:
    """Answers like ccxt: markets keyed by unified symbol, candles as [ms, o, h, l, c, v] lists."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def load_markets(self) -> dict:
        return {
            "BTC/BRL": {"quote": "BRL", "active": True},
            "PEPE/BRL": {"quote": "BRL", "active": True},
            "BTC/USDT": {"quote": "USDT", "active": True},
            "OLD/BRL": {"quote": "BRL", "active": False},
        }

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int) -> list[list[float]]:
        self.calls.append((symbol, timeframe, since, limit))
        day = int(datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp() * 1000)
        prev = day - 86_400_000
        if symbol == "BTC/BRL":
            return [[prev, 1, 1, 1, 1, 1], [day, 350000.0, 351000.0, 349000.0, 350500.0, 12.5]]
        return [[day, 0.0000573, 0.0000580, 0.0000570, 0.0000575, 1e9]]


def test_ccxt_candles_become_the_ohlcv_contract() -> None:
    ex = FakeExchange()
    bars = CcxtSource(exchange=ex).fetch_ohlcv_1d(date(2024, 5, 1), date(2024, 5, 1))
    assert bars["symbol"].to_list() == ["BTC/BRL", "PEPE/BRL"]  # BRL quote, active only
    assert bars["date"].to_list() == [date(2024, 5, 1)] * 2  # the out-of-range candle is dropped
    btc = bars.row(0, named=True)
    assert (btc["open"], btc["high"], btc["low"], btc["close"], btc["volume"]) == (350000.0, 351000.0, 349000.0, 350500.0, 12.5)
    assert btc["volume_brl"] == 12.5 * 350500.0
    assert bars.filter(pl.col("symbol") == "PEPE/BRL")["close"][0] == 0.0000575  # sub-cent prices kept exactly
    assert all(call[1] == "1d" and call[3] == 1000 for call in ex.calls)  # one short page per symbol: no more calls
    assert len(ex.calls) == 2
    assert ex.calls[0][2] == int(datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp() * 1000)


def test_ccxt_listed_symbols_are_every_active_brl_market_each_day() -> None:
    listed = CcxtSource(exchange=FakeExchange()).listed_symbols(date(2024, 5, 1), date(2024, 5, 2))
    assert listed.sort("symbol", "date").rows() == [
        ("BTC/BRL", date(2024, 5, 1)), ("BTC/BRL", date(2024, 5, 2)),
        ("PEPE/BRL", date(2024, 5, 1)), ("PEPE/BRL", date(2024, 5, 2)),
    ]
