"""Ordered failover between market-data sources, recording which one served each call."""
from __future__ import annotations

from datetime import date
from typing import Any, Sequence

import polars as pl

from dca_pipeline.ingestion.errors import SourceError


class FailoverSource:
    """Ordered failover: each call goes to the first source that answers; `served_by` says which one did."""

    def __init__(self, sources: Sequence[Any]) -> None:
        if not sources:
            raise ValueError("FailoverSource needs at least one source")
        self.sources = list(sources)
        self.name = "failover(" + ", ".join(s.name for s in self.sources) + ")"
        self.served_by: str | None = None
        self.history: list[dict] = []  # one entry per call: method, served_by, errors of the sources skipped

    def _first(self, method: str, args: tuple, symbol: str | None = None, start: Any = None, end: Any = None) -> Any:
        errors: list[str] = []
        for source in self.sources:
            try:
                result = getattr(source, method)(*args)
            except Exception as exc:  # noqa: BLE001 - the next source gets its turn
                errors.append(f"{source.name}: {exc}")
                continue
            self.served_by = source.name
            self.history.append({"method": method, "served_by": source.name, "errors": errors})
            return result
        self.served_by = None
        self.history.append({"method": method, "served_by": None, "errors": errors})
        raise SourceError(self.name, method, symbol, start, end, "every source failed — " + "; ".join(errors))

    def fetch_ohlcv(self, timeframe: str, start: Any, end: Any, symbols: list[str] | None = None) -> pl.DataFrame:
        return self._first("fetch_ohlcv", (timeframe, start, end, symbols), ",".join(symbols or []) or None, start, end)

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        return self._first("fetch_ohlcv_1d", (start, end), None, start, end)

    def fetch_order_book(self, symbol: str, depth: int = 20) -> pl.DataFrame:
        return self._first("fetch_order_book", (symbol, depth), symbol)

    def fetch_trades(self, symbol: str, start: Any, end: Any) -> pl.DataFrame:
        return self._first("fetch_trades", (symbol, start, end), symbol, start, end)

    def markets(self) -> pl.DataFrame:
        return self._first("markets", ())

    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        return self._first("listed_symbols", (start, end), None, start, end)

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        return self._first("fetch_fx_usd_brl", (start, end), "USD/BRL", start, end)

    def fetch_market_caps(self, as_of: date) -> pl.DataFrame:
        return self._first("fetch_market_caps", (as_of,), None, as_of)

    def fetch_reference_prices_brl(self, start: date, end: date) -> pl.DataFrame:
        return self._first("fetch_reference_prices_brl", (start, end), None, start, end)
