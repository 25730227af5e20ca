"""The Hive Parquet store: atomic partition replace, DuckDB partition pruning, views, legacy migration, retention."""
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.paths import dca_home, warehouse_path
from dca_pipeline.storage import duck, parquet_store, quarantine
from dca_pipeline.storage.retention import apply_retention, expired_partitions

DAYS = [date(2024, 3, 1) + timedelta(days=i) for i in range(5)]
SYMBOLS = ["BTC/BRL", "ADA/BRL", "PEPE/BRL"]


def _minute_bars(day: date, minutes: int = 3) -> pl.DataFrame:
    """A few minute bars per symbol, deliberately written out of order (the store must sort them)."""
    rows = []
    for m in reversed(range(minutes)):
        for i, sym in enumerate(SYMBOLS):
            ts = datetime(day.year, day.month, day.day, 0, m, tzinfo=timezone.utc)
            price = 100.0 * (i + 1) + day.day + m
            rows.append((sym, ts, price, price + 1, price - 1, price, 1.0 + m, (1.0 + m) * price))
    return pl.DataFrame(rows, schema=["symbol", "ts", "open", "high", "low", "close", "volume", "volume_brl"], orient="row")


def _store_days() -> dict[date, pl.DataFrame]:
    frames = {d: _minute_bars(d) for d in DAYS}
    for d, f in frames.items():
        parquet_store.write_partition("ohlcv_1m", d, f)
    return frames


def test_layout_and_rows_sorted_by_symbol_then_time() -> None:
    _store_days()
    path = dca_home() / "raw" / "ohlcv_1m" / f"date={DAYS[0]}" / "data.parquet"
    stored = pl.read_parquet(path, hive_partitioning=False)
    keys = list(zip(stored["symbol"], stored["ts"]))
    assert keys == sorted(keys) and len(keys) == 9
    assert stored["date"].unique().to_list() == [DAYS[0]] and not stored["filled"].any()
    assert parquet_store.stored_partitions("ohlcv_1m") == [d.isoformat() for d in DAYS]


def test_crash_mid_write_leaves_the_old_partition_intact() -> None:
    day = DAYS[0]
    old = _minute_bars(day)
    path = parquet_store.write_partition("ohlcv_1m", day, old)
    before = path.read_bytes()

    def crash(self: pl.DataFrame, file: Path, **kwargs: object) -> None:
        Path(file).write_bytes(b"PAR1 half a file")  # the process dies after writing part of the temp file
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as patch, pytest.raises(OSError, match="disk full"):
        patch.setattr(pl.DataFrame, "write_parquet", crash)
        parquet_store.write_partition("ohlcv_1m", day, old.with_columns(pl.col("close") * 2))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["data.parquet"]  # no temp file left behind
    reread = parquet_store.read_range("ohlcv_1m", day, day)
    assert sorted(reread["close"].to_list()) == sorted(old["close"].to_list())


def test_rewrite_replaces_the_partition() -> None:
    day = DAYS[1]
    parquet_store.write_partition("ohlcv_1m", day, _minute_bars(day))
    parquet_store.write_partition("ohlcv_1m", day, _minute_bars(day, minutes=2))
    assert len(parquet_store.read_range("ohlcv_1m", day, day)) == 2 * len(SYMBOLS)


def test_reads_prune_partitions_and_symbols() -> None:
    frames = _store_days()
    # a corrupt partition outside the range: a pruned read never opens it
    parquet_store.partition_path("ohlcv_1m", DAYS[4]).write_bytes(b"not parquet at all")
    got = parquet_store.read_range("ohlcv_1m", DAYS[1], DAYS[2], symbols=["ADA/BRL"])
    expected = pl.concat([frames[DAYS[1]], frames[DAYS[2]]]).filter(pl.col("symbol") == "ADA/BRL")
    assert got.select(expected.columns).sort("ts").equals(expected.sort("ts"))
    assert got["date"].unique().sort().to_list() == [DAYS[1], DAYS[2]]
    with pytest.raises(Exception, match="(?i)parquet"):
        parquet_store.read_range("ohlcv_1m", DAYS[3], DAYS[4])  # the corrupt partition is in this range
    assert parquet_store.read_range("ohlcv_1m", date(2020, 1, 1), date(2020, 1, 2)).is_empty()


def test_warehouse_views_over_each_dataset() -> None:
    frames = _store_days()
    made = parquet_store.create_views(warehouse_path())
    assert made == ["raw.ohlcv_1m"]
    counts = duck.query(warehouse_path(), "select date, count(*) as n from raw.ohlcv_1m group by date order by date")
    assert counts["date"].to_list() == DAYS and counts["n"].to_list() == [len(frames[d]) for d in DAYS]


def test_legacy_flat_files_move_into_the_hive_layout() -> None:
    legacy = dca_home() / "raw" / "raw_ohlcv_1d"
    legacy.mkdir(parents=True)
    frame = pl.DataFrame({"symbol": ["BTC/BRL"], "date": [DAYS[0]], "close": [1.0]})
    frame.write_parquet(legacy / f"{DAYS[0]}.parquet")
    moved = parquet_store.migrate_legacy_layout()
    assert moved == [parquet_store.partition_path("ohlcv_1d", DAYS[0].isoformat())]
    assert parquet_store.read_partition("ohlcv_1d", DAYS[0]).equals(frame)


def test_expired_partitions_keep_the_last_n_days() -> None:
    parts = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(40)]
    today = date(2024, 2, 9)  # the 40th day
    expired = expired_partitions(parts, today, 30)
    assert expired == parts[:10]  # 2024-01-11 .. 2024-02-09 are the 30 kept days
    assert expired_partitions(parts, today, None) == []


def test_retention_removes_exactly_the_expired_partitions_and_their_quarantine() -> None:
    _store_days()
    for d in DAYS:
        parquet_store.write_partition("ohlcv_1d", d, pl.DataFrame({"symbol": ["BTC/BRL"], "date": [d], "close": [1.0]}))
    bad = pl.DataFrame({"symbol": ["BTC/BRL"], "ts": [datetime(2024, 3, 1, tzinfo=timezone.utc)], "reason": ["missing price"]})
    for d in DAYS[:2]:
        quarantine.replace(warehouse_path(), "ohlcv_1m", d.isoformat(), quarantine.to_records("ohlcv_1m", d.isoformat(), bad, "test"))
    removed = apply_retention({"ohlcv_1m": 3, "ohlcv_1d": None}, DAYS[-1], warehouse_path())
    assert removed == {"ohlcv_1m": [DAYS[0].isoformat(), DAYS[1].isoformat()], "ohlcv_1d": []}
    assert parquet_store.stored_partitions("ohlcv_1m") == [d.isoformat() for d in DAYS[2:]]
    assert parquet_store.stored_partitions("ohlcv_1d") == [d.isoformat() for d in DAYS]
    assert quarantine.read(warehouse_path(), "ohlcv_1m").is_empty()


def test_quarantine_is_replaced_per_dataset_and_partition() -> None:
    rows = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "date": [DAYS[0]] * 2, "open": [float("nan"), float("inf")],
                         "reason": ["missing price", "non-finite price"]})
    for _ in range(2):  # a rerun replaces, never duplicates
        quarantine.replace(warehouse_path(), "ohlcv_1d", str(DAYS[0]), quarantine.to_records("ohlcv_1d", str(DAYS[0]), rows, "replay"))
    stored = quarantine.read(warehouse_path(), "ohlcv_1d")
    assert stored.select("dataset", "partition", "symbol", "reason", "source").rows() == [
        ("ohlcv_1d", str(DAYS[0]), "A/BRL", "missing price", "replay"),
        ("ohlcv_1d", str(DAYS[0]), "B/BRL", "non-finite price", "replay"),
    ]
    assert stored["ts"].to_list() == [datetime(2024, 3, 1, tzinfo=timezone.utc)] * 2
    assert '"open":"NaN"' in stored["row_json"][0] and '"open":"inf"' in stored["row_json"][1]


def _daily(day: date, extra: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame({"symbol": SYMBOLS, "open": [1.5, 2.5, 0.000012], "close": [1.0, 2.0, 0.00001],
                          "volume": [10.0, 20.0, 3e9], "trades": [1, 2, 3], "filled": [False, True, False]})
    return frame.with_columns(note=pl.lit("x")) if extra else frame


@pytest.mark.parametrize("symbols", [None, ["PEPE/BRL", "BTC/BRL"], []])
@pytest.mark.parametrize("mixed_schemas", [False, True])
def test_polars_read_gives_duckdbs_frame(symbols: list[str] | None, mixed_schemas: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_range reads plain-typed partitions with polars (faster on many small files); DuckDB is the reference:
    same rows, columns, types and order, with a symbol filter, and when one partition has another schema."""
    for i, d in enumerate(DAYS):
        parquet_store.write_partition("bars_test", d, _daily(d, extra=mixed_schemas and i == 2))
    fast = parquet_store.read_range("bars_test", DAYS[1], DAYS[3], symbols=symbols)
    files = [parquet_store.partition_path("bars_test", d.isoformat(), parquet_store.PARTITION_KEY, None) for d in DAYS[1:4]]
    if not mixed_schemas:  # the fast path was taken (with another schema in the range it may fall back to DuckDB)
        assert parquet_store._read_with_polars(files, parquet_store.PARTITION_KEY, symbols) is not None
    monkeypatch.setattr(parquet_store, "_read_with_polars", lambda *a, **k: None)  # DuckDB's hive scan only
    reference = parquet_store.read_range("bars_test", DAYS[1], DAYS[3], symbols=symbols)
    assert fast.schema == reference.schema
    assert fast.equals(reference)
    assert fast["date"].unique().sort().to_list() == ([] if symbols == [] else DAYS[1:4])
