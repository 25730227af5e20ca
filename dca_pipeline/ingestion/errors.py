"""Errors raised by market-data sources: what failed, where, and why, in one message."""
from __future__ import annotations

from datetime import date, datetime


class SourceError(RuntimeError):
    """A source gave up: the message names the source, the symbol(s) and the time range asked for."""

    def __init__(
        self,
        source: str,
        what: str,
        symbol: str | None = None,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        reason: str = "",
        attempts: int | None = None,
    ) -> None:
        self.source, self.what, self.symbol, self.start, self.end = source, what, symbol, start, end
        self.reason, self.attempts = reason, attempts
        where = f" {symbol}" if symbol else " (all symbols)"
        span = f" [{_fmt(start)} → {_fmt(end)})" if start is not None or end is not None else ""
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
        super().__init__(f"source {source!r}: {what}{where}{span} failed{tries}: {reason}")


class DataNotAvailable(SourceError):
    """The source cannot serve this kind of data at all (e.g. the bundled replay has only daily bars)."""


class DataRangeError(ValueError):
    """A request lies wholly outside the data's range; the message names the range the data covers."""

    def __init__(self, what: str, covered: tuple[date, date], asked: tuple[date, date]) -> None:
        self.what, self.covered, self.asked = what, covered, asked
        super().__init__(
            f"{what} cover {_fmt(covered[0])} → {_fmt(covered[1])}; asked {_fmt(asked[0])} → {_fmt(asked[1])}"
        )


def _fmt(value: date | datetime | None) -> str:
    if value is None:
        return "…"
    return value.isoformat()
