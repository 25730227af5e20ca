"""The bundled real history in data/ (see data/SOURCES.md), loaded once per process."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl

from dca_pipeline.paths import bundled_data_dir


@lru_cache(maxsize=8)
def _read(path: str) -> pl.DataFrame:
    return pl.read_parquet(path)


def _file(name: str) -> Path:
    path = bundled_data_dir() / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"bundled data file missing: {path} (rebuild with scripts/build_bundled_data.py)")
    return path


def ohlcv_usd() -> pl.DataFrame:
    """Daily USD bars: base, date, open, high, low, close, volume_usd."""
    return _read(str(_file("ohlcv_1d_usd")))


def usd_brl_published() -> pl.DataFrame:
    """Published USD/BRL closes: date, usd_brl, source (Investing.com, then BCB PTAX venda from 2021-05-19)."""
    return _read(str(_file("usd_brl")))


def market_cap_snapshots() -> pl.DataFrame:
    """Monthly CoinMarketCap snapshots: snapshot_date, base, market_cap_usd."""
    return _read(str(_file("market_caps_monthly")))


def ibovespa() -> pl.DataFrame:
    """Ibovespa daily close in points (Investing.com): date, close."""
    return _read(str(_file("ibov")))
