"""The backtest window must lie inside the data: a window outside it is an error naming the range the data covers.

Never "liquidate at stale prices" past the data's end: an end after the last bar is refused, not clipped.
"""
from __future__ import annotations

from datetime import date


class OutsideDataRange(ValueError):
    """The asked window is not inside the data's range; the message names both."""

    def __init__(self, start: date, end: date, first: date, last: date, what: str = "backtest window") -> None:
        self.start, self.end, self.first, self.last = start, end, first, last
        super().__init__(
            f"{what} {start} → {end} is outside the data: the bundled data covers {first} → {last}; "
            f"choose dates inside that range"
        )


def require_within(start: date, end: date, data_range: tuple[date, date] | None, what: str = "backtest window") -> None:
    """Raise OutsideDataRange unless first ≤ start ≤ end ≤ last. `data_range` None (a live source without a known
    range) passes; start after end is a ValueError."""
    if end < start:
        raise ValueError(f"{what}: end {end} is before start {start}")
    if data_range is None:
        return
    first, last = data_range
    if start < first or end > last:
        raise OutsideDataRange(start, end, first, last, what)


def data_range_of(source: object) -> tuple[date, date] | None:
    """`source.data_range()` when the source knows its range (the replay does), else None."""
    get = getattr(source, "data_range", None)
    return get() if callable(get) else None


def months_between(start: date, end: date) -> list[date]:
    """First days of every calendar month from `start`'s month through `end`'s."""
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return out
