"""Property tests: malformed OHLCV rows always land in quarantine with a reason; good rows pass unchanged."""
import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.storage import quarantine

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)
GOOD = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
BAD_PRICE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -1.0, None])


@st.composite
def bar(draw: st.DrawFn) -> dict:
    """A valid bar, then maybe one corruption of the kinds a feed produces."""
    lo, hi = sorted([draw(GOOD), draw(GOOD)])
    o, c = draw(st.floats(lo, hi)), draw(st.floats(lo, hi))
    row = {"symbol": draw(st.sampled_from(["A/BRL", "B/BRL", "C/BRL"])), "ts": BASE + timedelta(minutes=draw(st.integers(0, 5))),
           "open": o, "high": hi, "low": lo, "close": c, "volume": draw(st.floats(0, 1e6))}
    kind = draw(st.sampled_from(["none", "none", "price", "volume", "high_low", "open_out", "close_out", "null_key"]))
    if kind == "price":
        row[draw(st.sampled_from(["open", "high", "low", "close"]))] = draw(BAD_PRICE)
    elif kind == "volume":
        row["volume"] = draw(st.sampled_from([float("nan"), float("inf"), -1.0, None]))
    elif kind == "high_low" and hi > lo:
        row["high"], row["low"] = lo, hi
    elif kind == "open_out":
        row["open"] = hi * 2 + 1
    elif kind == "close_out":
        row["close"] = lo / 2
    elif kind == "null_key":
        row[draw(st.sampled_from(["symbol", "ts"]))] = None
    return row


def _is_good(row: dict) -> bool:
    """Independent oracle of the row rules (plain Python, not the polars expressions under test)."""
    if row["symbol"] is None or row["ts"] is None:
        return False
    prices = [row[k] for k in ("open", "high", "low", "close")]
    if any(p is None or not math.isfinite(p) or p <= 0 for p in prices):
        return False
    if row["volume"] is None or not math.isfinite(row["volume"]) or row["volume"] < 0:
        return False
    return row["low"] <= min(row["open"], row["close"]) and row["high"] >= max(row["open"], row["close"])


SCHEMA = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "open": pl.Float64, "high": pl.Float64,
          "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64}


@settings(max_examples=200, deadline=None)
@given(st.lists(bar(), max_size=40))
def test_every_bad_row_is_quarantined_and_every_good_row_passes_unchanged(rows: list[dict]) -> None:
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)
    valid, rejected = split_valid_ohlcv(frame, key=("symbol", "ts"))
    seen: set = set()
    expected_valid, expected_bad = [], 0
    for row in rows:
        key = (row["symbol"], row["ts"])
        if _is_good(row) and key not in seen:
            seen.add(key)
            expected_valid.append(row)
        else:
            expected_bad += 1  # a bad row, or a later copy of a key already kept (duplicate)
    expected = pl.DataFrame(expected_valid, schema=SCHEMA, orient="row") if expected_valid else pl.DataFrame(schema=SCHEMA)
    assert valid.equals(expected)  # unchanged values, same order
    assert len(rejected) == expected_bad and len(valid) + len(rejected) == len(frame)  # nothing lost
    assert rejected["reason"].null_count() == 0
    dup_rows = rejected.filter(pl.col("reason") == "duplicate key")
    assert all(_is_good(r) for r in dup_rows.drop("reason").to_dicts())
    records = quarantine.to_records("ohlcv_1m", "2024-01-01", rejected, "test")
    assert len(records) == len(rejected) and records["reason"].to_list() == rejected["reason"].to_list()


def test_duplicate_keeps_the_first_valid_copy_even_after_a_bad_one() -> None:
    d = date(2024, 1, 1)
    frame = pl.DataFrame(
        [("A/BRL", d, float("nan"), 2.0, 1.0, 1.5, 1.0), ("A/BRL", d, 1.5, 2.0, 1.0, 1.5, 1.0), ("A/BRL", d, 1.6, 2.0, 1.0, 1.5, 1.0)],
        schema=["symbol", "date", "open", "high", "low", "close", "volume"], orient="row",
    )
    valid, rejected = split_valid_ohlcv(frame)
    assert valid["open"].to_list() == [1.5]
    assert rejected["reason"].to_list() == ["missing price", "duplicate key"]
