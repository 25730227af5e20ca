"""Rebuild the Parquet files in data/ from the raw CSVs in ../shared/data (run once; outputs are committed).

Usage: python scripts/build_bundled_data.py [SHARED_DATA_DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
OUT = ROOT / "data"

# Yahoo disambiguation suffixes -> exchange tickers (as used in the CoinMarketCap snapshots).
TICKER_FIX = {"LUNA1": "LUNA", "HOT1": "HOT"}


def build_ohlcv() -> pl.DataFrame:
    """Yahoo *-USD daily bars (MIT, benjaminpo/crypto-price); empty pre-listing rows dropped, nothing else touched."""
    frames = []
    for path in sorted((SHARED / "yfinance_benjaminpo").glob("*-USD-1d.csv")):
        ticker = path.name.split("-USD")[0]
        base = TICKER_FIX.get(ticker, ticker)
        df = pl.read_csv(path, infer_schema_length=0).select(
            pl.col("Date").str.to_date().alias("date"),
            *[pl.col(c).cast(pl.Float64, strict=False).alias(c.lower()) for c in ("Open", "High", "Low", "Close")],
            pl.col("Volume").cast(pl.Float64, strict=False).alias("volume_usd"),
        )
        df = df.drop_nulls(["open", "high", "low", "close"]).with_columns(pl.lit(base).alias("base"))
        frames.append(df)
    out = pl.concat(frames).select("base", "date", "open", "high", "low", "close", "volume_usd")
    return out.sort("base", "date")


def build_usd_brl() -> pl.DataFrame:
    """Investing.com USD/BRL close up to 2021-05-18, then BCB PTAX venda (both MIT)."""
    inv = pl.read_csv(SHARED / "brazil_fialhoFabio" / "usd_brl.csv", infer_schema_length=0, encoding="utf8-lossy")
    inv = inv.rename({inv.columns[0]: "Data"}).select(
        pl.col("Data").str.to_date("%d.%m.%Y").alias("date"),
        pl.col("Último").str.replace(",", ".").cast(pl.Float64).alias("usd_brl"),
    ).with_columns(pl.lit("investing.com").alias("source"))
    ptax = pl.read_csv(SHARED / "bcb_ptax_strongylis" / "ptax.csv").select(
        pl.col("data").str.to_date().alias("date"),
        pl.col("venda").cast(pl.Float64).alias("usd_brl"),
    ).with_columns(pl.lit("bcb_ptax_venda").alias("source"))
    switch = pl.date(2021, 5, 19)
    return pl.concat([inv.filter(pl.col("date") < switch), ptax.filter(pl.col("date") >= switch)]).sort("date")


def build_market_caps() -> pl.DataFrame:
    """Monthly CoinMarketCap snapshots (MIT, nicolasdd1996/crypto-trend-follow), one row per coin per snapshot."""
    frames = []
    for path in sorted((SHARED / "cmc_mcap_nicolasdd1996" / "market_cap_snapshots").glob("*.csv")):
        df = pl.read_csv(path, infer_schema_length=0).select(
            pl.col("coin").str.strip_chars().alias("base"),
            pl.col("mkt_cap").cast(pl.Float64, strict=False).alias("market_cap_usd"),
        )
        snap = pl.Series([path.stem]).str.to_date("%Y%m%d")[0]
        frames.append(df.drop_nulls().with_columns(pl.lit(snap).alias("snapshot_date")))
    return pl.concat(frames).select("snapshot_date", "base", "market_cap_usd").sort("snapshot_date", "base")


def build_ibov() -> pl.DataFrame:
    """Ibovespa daily close (points) from Investing.com (MIT, fialhoFabio/tcc-usp-data-science)."""
    raw = pl.read_csv(SHARED / "brazil_fialhoFabio" / "ibov.csv", infer_schema_length=0, encoding="utf8-lossy")
    raw = raw.rename({raw.columns[0]: "Data"})
    return raw.select(
        pl.col("Data").str.to_date("%d.%m.%Y").alias("date"),
        pl.col("Último").str.replace_all(".", "", literal=True).str.replace(",", ".").cast(pl.Float64).alias("close"),
    ).sort("date")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, frame in {
        "ohlcv_1d_usd": build_ohlcv(),
        "usd_brl": build_usd_brl(),
        "market_caps_monthly": build_market_caps(),
        "ibov": build_ibov(),
    }.items():
        frame.write_parquet(OUT / f"{name}.parquet", compression="zstd", compression_level=19, statistics=True)
        print(name, frame.shape)


if __name__ == "__main__":
    main()
