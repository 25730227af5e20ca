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
    """Daily USD bars, one source per (base, date): base (canonical ticker), date, open, high, low, close,
    volume (base units, null where unknown), volume_usd (null where unknown), source."""
    return _read(str(_file("ohlcv_1d_usd")))


def universe_snapshots() -> pl.DataFrame:
    """Monthly point-in-time universe, one row per (snapshot_date, base): snapshot_date, rank, name, base,
    cmc_symbol, market_cap_usd, volume_24h_usd, price_usd, source ('cmc_monthly' from 2020-01 with top 200;
    'cmc_mcap_nicolasdd' for 2016-12 .. 2019-12, market cap >= $100M only, no name/volume/price)."""
    return _read(str(_file("universe_monthly")))


def symbol_map() -> pl.DataFrame:
    """The symbol map applied by the build: source, source_symbol, base, valid_from, valid_to, price_multiplier,
    kind (rename | redenomination | ticker_alias | split_identity), note."""
    path = bundled_data_dir() / "symbol_map.csv"
    if not path.exists():
        raise FileNotFoundError(f"bundled data file missing: {path}")
    return pl.read_csv(path, schema_overrides={"valid_from": pl.Date, "valid_to": pl.Date, "price_multiplier": pl.Float64})


def cdi() -> pl.DataFrame:
    """Brazil CDI (BCB SGS 12): date (business days), cdi_pct (daily rate in % per business day)."""
    return _read(str(_file("cdi")))


def usd_brl_published() -> pl.DataFrame:
    """Published USD/BRL closes: date, usd_brl, source (Investing.com, then BCB PTAX venda from 2021-05-19)."""
    return _read(str(_file("usd_brl")))


def market_cap_snapshots() -> pl.DataFrame:
    """Monthly CoinMarketCap snapshots: snapshot_date, base, market_cap_usd."""
    return _read(str(_file("market_caps_monthly")))


def ibovespa() -> pl.DataFrame:
    """Ibovespa daily close in points (Investing.com): date, close."""
    return _read(str(_file("ibov")))
