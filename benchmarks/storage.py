"""Benchmark: minute bars for 300 symbols × 30 days (≈13 M rows) through the storage layer, day by day as the
`raw_ohlcv_1m` asset does it (validate, fill gaps, atomic Parquet write), then pruned DuckDB reads.

Usage: python benchmarks/storage.py [--symbols 300] [--days 30] [--keep DIR]
Prints rows/s per stage and the peak RSS (resource.getrusage; target < 2 GB). Not a test.
"""
import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl


def minute_bars(day: date, symbols: int, rng: np.random.Generator) -> pl.DataFrame:
    """One UTC day of random-walk minute bars; a few bars dropped so gap filling has work to do."""
    per = 1440
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    close = (10 * np.exp(np.cumsum(rng.normal(0, 0.001, (symbols, per)), axis=1))).ravel()
    n = close.size
    high, low = close * (1 + rng.uniform(0, 0.002, n)), close * (1 - rng.uniform(0, 0.002, n))
    volume = rng.uniform(1, 100, n)
    times = pl.datetime_range(start, start + timedelta(minutes=per - 1), "1m", time_unit="us", eager=True, time_zone="UTC")
    frame = pl.DataFrame({
        "symbol": np.repeat([f"S{i:03d}/BRL" for i in range(symbols)], per),
        "ts": pl.concat([times] * symbols),
        "open": np.clip(close * (1 + rng.normal(0, 0.0005, n)), low, high), "high": high, "low": low, "close": close,
        "volume": volume, "volume_brl": volume * close,
    })
    return frame.filter(pl.Series(rng.uniform(0, 1, n) > 0.001))  # ≈0.1% of bars missing


class SyntheticSource:
    name = "synthetic"

    def __init__(self, symbols: int) -> None:
        self.symbols, self.rng, self.seconds = symbols, np.random.default_rng(0), 0.0

    def fetch_ohlcv(self, timeframe: str, start: datetime, end: datetime, symbols: list[str] | None = None) -> pl.DataFrame:
        t0 = time.perf_counter()
        bars = minute_bars(start.date(), self.symbols, self.rng)
        self.seconds += time.perf_counter() - t0  # data generation is not the storage layer's cost
        return bars


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", default="", help="store under this DCA_HOME and keep it (default: a temp dir, removed)")
    args = parser.parse_args()
    home = args.keep or tempfile.mkdtemp(prefix="dca_storage_bench_")
    os.environ["DCA_HOME"] = home

    from dca_pipeline.ingestion.intraday import ingest_bars
    from dca_pipeline.storage import parquet_store

    source = SyntheticSource(args.symbols)
    first = date(2024, 1, 1)
    names = [f"S{i:03d}/BRL" for i in range(args.symbols)]
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    rows = filled = 0
    ingest_s = write_s = 0.0
    previous = pl.DataFrame()
    t_all = time.perf_counter()
    for i in range(args.days):
        day = first + timedelta(days=i)
        t0 = time.perf_counter()
        result = ingest_bars(source, "1m", day, names, None, 5, previous, now)
        t1 = time.perf_counter()
        parquet_store.write_partition("ohlcv_1m", day, result.rows)
        t2 = time.perf_counter()
        ingest_s, write_s = ingest_s + (t1 - t0), write_s + (t2 - t1)
        rows += len(result.rows)
        filled += int(result.metadata["filled_bars"])
        previous = result.rows.select("symbol", "ts", "close")
        del result
    total_s = time.perf_counter() - t_all
    size_mb = sum(p.stat().st_size for p in parquet_store.dataset_dir("ohlcv_1m").rglob("*.parquet")) / 2**20

    parquet_store.read_range("ohlcv_1m", first, first, names[:1])  # warm-up: DuckDB's first connection
    t0 = time.perf_counter()
    week = parquet_store.read_range("ohlcv_1m", first + timedelta(days=10), first + timedelta(days=16), names[:10])
    pruned_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = parquet_store.read_range("ohlcv_1m", first, first + timedelta(days=args.days - 1), names[:1])
    one_symbol_s = time.perf_counter() - t0

    print(f"ingested {rows:,} minute bars ({filled:,} filled) for {args.symbols} symbols x {args.days} days")
    ingest_s -= source.seconds
    print(f"  (generating the synthetic bars took {source.seconds:.2f} s, excluded below)")
    print(f"  validate + fill : {ingest_s:7.2f} s  {rows / ingest_s:12,.0f} rows/s")
    print(f"  atomic write    : {write_s:7.2f} s  {rows / write_s:12,.0f} rows/s")
    total_s -= source.seconds
    print(f"  end to end      : {total_s:7.2f} s  {rows / total_s:12,.0f} rows/s   on disk {size_mb:,.0f} MiB")
    print(f"  pruned read 10 symbols x 7 days : {len(week):,} rows in {pruned_s:.3f} s")
    print(f"  pruned read 1 symbol x {args.days} days  : {len(full):,} rows in {one_symbol_s:.3f} s")
    print(f"peak RSS {peak_rss_mb():,.0f} MiB (target < 2048 MiB)")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
