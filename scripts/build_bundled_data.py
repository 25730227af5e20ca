"""Rebuild the Parquet files in data/ from the raw CSVs in ../shared/data (run once; outputs are committed).

Usage: python scripts/build_bundled_data.py [SHARED_DATA_DIR]
"""
from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
OUT = ROOT / "data"

# Symbol map: data/symbol_map.csv (hand-maintained, see data/SOURCES.md) is applied to every source here.
SYMBOL_MAP = OUT / "symbol_map.csv"
# Precedence when several sources have bars for one base (first wins over its whole span, see pick_sources).
PRECEDENCE = ("binance_spot", "yahoo", "bybit_perp", "binance_spot_1h")
LAST_DAY = date(2025, 11, 13)  # the last Bybit day: one common end, so no coin looks delisted when the data just stops


def read_symbol_map() -> pl.DataFrame:
    return pl.read_csv(SYMBOL_MAP, schema_overrides={"valid_from": pl.Date, "valid_to": pl.Date, "price_multiplier": pl.Float64})


def apply_symbol_map(frame: pl.DataFrame, source: str, symbol_col: str = "source_symbol") -> pl.DataFrame:
    """Add `base` and `price_multiplier` from the map rows of `source` whose [valid_from, valid_to] holds the row's date.

    A symbol without a map row is its own base (multiplier 1). A mapped symbol whose date falls outside every
    one of its intervals is an error: the map must cover each mapped symbol's whole history.
    """
    rows = read_symbol_map().filter(pl.col("source") == source).drop("source", "kind", "note")
    idx = frame.with_row_index("_row")
    hits = idx.join(rows, left_on=symbol_col, right_on="source_symbol", how="inner").filter(
        (pl.col("valid_from").is_null() | (pl.col("date") >= pl.col("valid_from")))
        & (pl.col("valid_to").is_null() | (pl.col("date") <= pl.col("valid_to")))
    )
    if hits["_row"].n_unique() != len(hits):
        raise ValueError(f"symbol map for {source} has overlapping intervals")
    mapped_symbols = rows["source_symbol"].unique()
    uncovered = idx.filter(pl.col(symbol_col).is_in(mapped_symbols.implode()) & ~pl.col("_row").is_in(hits["_row"].implode()))
    if len(uncovered):
        raise ValueError(f"symbol map for {source} leaves rows unmapped: {uncovered.head(3)}")
    out = idx.join(hits.select("_row", "base", "price_multiplier"), on="_row", how="left").with_columns(
        pl.coalesce("base", symbol_col).alias("base"), pl.col("price_multiplier").fill_null(1.0)
    )
    return canonical(out.drop("_row"))


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Renames of the same asset (map rows with source 'canonical'): LUNA -> LUNC after 2022-05-27, MATIC -> POL."""
    for row in read_symbol_map().filter(pl.col("source") == "canonical").iter_rows(named=True):
        when = pl.col("base") == row["source_symbol"]
        if row["valid_from"] is not None:
            when = when & (pl.col("date") >= row["valid_from"])
        frame = frame.with_columns(pl.when(when).then(pl.lit(row["base"])).otherwise(pl.col("base")).alias("base"))
    return frame


def _scaled(frame: pl.DataFrame) -> pl.DataFrame:
    """Prices per one canonical coin: price x multiplier, base volume / multiplier (USD volume is unchanged)."""
    m = pl.col("price_multiplier")
    return frame.with_columns(*[(pl.col(c) * m).alias(c) for c in ("open", "high", "low", "close")], (pl.col("volume") / m).alias("volume"))


BAR_COLUMNS = ("base", "date", "open", "high", "low", "close", "volume", "volume_usd", "source")


def yahoo_bars() -> pl.DataFrame:
    """Yahoo *-USD daily bars (benjaminpo/crypto-price); empty pre-listing rows dropped, nothing else touched.
    Yahoo reports USD volume; base volume is USD volume / close (an approximation)."""
    frames = []
    for path in sorted((SHARED / "yfinance_benjaminpo").glob("*-USD-1d.csv")):
        df = pl.read_csv(path, infer_schema_length=0).select(
            pl.col("Date").str.to_date().alias("date"),
            *[pl.col(c).cast(pl.Float64, strict=False).alias(c.lower()) for c in ("Open", "High", "Low", "Close")],
            pl.col("Volume").cast(pl.Float64, strict=False).alias("volume_usd"),
        )
        frames.append(df.drop_nulls(["open", "high", "low", "close"]).with_columns(pl.lit(path.name.split("-USD")[0]).alias("source_symbol")))
    out = pl.concat(frames).with_columns(
        pl.when(pl.col("close") > 0).then(pl.col("volume_usd") / pl.col("close")).alias("volume"), pl.lit("yahoo").alias("source")
    )
    return _scaled(apply_symbol_map(out, "yahoo")).select(BAR_COLUMNS)


def binance_spot_bars() -> pl.DataFrame:
    """Binance spot USDT daily klines (yanniedog); base volume as given, USD volume = volume x close (approximation)."""
    frames = []
    for path in sorted((SHARED / "binance_yanniedog").glob("*USDT_1d.csv")):
        df = pl.read_csv(path).select(
            pl.col("timestamp").str.to_date().alias("date"),
            *[pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume")],
        )
        frames.append(df.with_columns(pl.lit(path.name.split("USDT_")[0]).alias("source_symbol")))
    out = pl.concat(frames).with_columns((pl.col("volume") * pl.col("close")).alias("volume_usd"), pl.lit("binance_spot").alias("source"))
    return _scaled(apply_symbol_map(out, "binance_spot")).select(BAR_COLUMNS)


def bybit_perp_bars() -> pl.DataFrame:
    """Bybit USDT linear perpetual daily klines (jumpotsa); the 2023-02-18 pagination duplicate dropped; USD volume = turnover."""
    frames = []
    for path in sorted((SHARED / "bybit_perp_jumpotsa").glob("*USDT.csv")):
        df = pl.read_csv(path).unique(maintain_order=True).select(
            pl.col("date").str.to_date(),
            *[pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume")],
            pl.col("turnover").cast(pl.Float64).alias("volume_usd"),
        )
        if df["date"].n_unique() != len(df):
            raise ValueError(f"{path.name}: duplicate dates that are not byte-identical rows")
        frames.append(df.with_columns(pl.lit(path.name.removesuffix("USDT.csv")).alias("source_symbol")))
    out = pl.concat(frames).with_columns(pl.lit("bybit_perp").alias("source"))
    return _scaled(apply_symbol_map(out, "bybit_perp")).select(BAR_COLUMNS)


def binance_hourly_bars(universe: pl.DataFrame) -> pl.DataFrame:
    """Binance spot hourly closes (robbudaghyan) of LUNA, LUNC, FTT resampled per UTC day: open = first close,
    high = max, low = min, close = last close. The source has no volume and ingestion quarantines a bar without
    one, so volume_usd is an estimate: CoinMarketCap's all-venue 24h volume in the latest monthly snapshot on or
    before the day (at most 31 days old; point in time), and volume = volume_usd / close. Null where none."""
    frames = []
    for path in sorted((SHARED / "binance_1h_robbudaghyan").glob("*USDT.csv")):
        h = pl.read_csv(path).select(pl.col("open_time").str.to_datetime("%Y-%m-%d %H:%M:%S"), pl.col("close").cast(pl.Float64)).sort("open_time")
        d = h.group_by(pl.col("open_time").dt.date().alias("date"), maintain_order=True).agg(
            pl.col("close").first().alias("open"), pl.col("close").max().alias("high"),
            pl.col("close").min().alias("low"), pl.col("close").last().alias("close"),
        )
        frames.append(d.with_columns(pl.lit(path.name.removesuffix("USDT.csv")).alias("source_symbol")))
    out = apply_symbol_map(pl.concat(frames), "binance_spot_1h").sort("date")
    cmc_volume = universe.filter(pl.col("source") == "cmc_monthly").select(
        "base", pl.col("snapshot_date").alias("date"), pl.col("volume_24h_usd").alias("volume_usd")
    ).sort("date")
    out = out.join_asof(cmc_volume, on="date", by="base", strategy="backward", tolerance="31d").with_columns(
        pl.when(pl.col("close") > 0).then(pl.col("volume_usd") / pl.col("close")).alias("volume"),
        pl.lit("binance_spot_1h").alias("source"),
    )
    return _scaled(out).select(BAR_COLUMNS)


def pick_sources(bars: pl.DataFrame) -> pl.DataFrame:
    """One bar per (base, date): a source's rows are kept only on dates outside the [first, last] span of every
    higher-precedence source of the same base, so a coin switches source at most at span edges, never back and forth."""
    order = {s: i for i, s in enumerate(PRECEDENCE)}
    bars = bars.with_columns(pl.col("source").replace_strict(order, return_dtype=pl.Int8).alias("_prec"))
    spans = bars.group_by("base", "_prec").agg(pl.col("date").min().alias("_a"), pl.col("date").max().alias("_b"))
    shadowed = (
        bars.select("base", "date", "_prec")
        .join(spans.rename({"_prec": "_hp"}), on="base")
        .filter((pl.col("_hp") < pl.col("_prec")) & pl.col("date").is_between(pl.col("_a"), pl.col("_b")))
        .select("base", "date", "_prec").unique()
    )
    kept = bars.join(shadowed, on=["base", "date", "_prec"], how="anti")
    if kept.select("base", "date").is_duplicated().any():
        raise ValueError("precedence left two bars for one (base, date)")
    return kept.drop("_prec")


def build_ohlcv(universe: pl.DataFrame) -> pl.DataFrame:
    """Daily USD bars of every source, canonical bases, one source per (base, date), up to LAST_DAY."""
    bars = pl.concat([binance_spot_bars(), yahoo_bars(), bybit_perp_bars(), binance_hourly_bars(universe)])
    return pick_sources(bars.filter(pl.col("date") <= LAST_DAY)).sort("base", "date")


def build_universe() -> pl.DataFrame:
    """Monthly point-in-time universe: CMC top-200 snapshots with price/volume from 2020-01 (smoothbrainquant),
    and for 2017-01 .. 2019-12 the market-cap-only snapshots (nicolasdd1996, >= $100M, rank by market cap)."""
    cmc = pl.read_csv(SHARED / "cmc_monthly_smoothbrainquant" / "coinmarketcap_monthly_all_snapshots.csv").select(
        pl.col("snapshot_date").cast(pl.String).str.to_date("%Y%m%d").alias("date"),
        pl.col("Rank").cast(pl.Int32).alias("rank"), pl.col("Name").alias("name"), pl.col("Symbol").alias("source_symbol"),
        pl.col("Market Cap").cast(pl.Float64).alias("market_cap_usd"), pl.col("Volume (24h)").cast(pl.Float64).alias("volume_24h_usd"),
        pl.col("Price").cast(pl.Float64).alias("price_usd"), pl.lit("cmc_monthly").alias("source"),
    )
    cmc = apply_symbol_map(cmc, "cmc_monthly").with_columns(
        # BNX 2023-03-01 lists "BinaryX (old)" and "BinaryX": the old token gets its own base
        pl.when(pl.col("name").str.ends_with("(old)")).then(pl.col("base") + "OLD").otherwise(pl.col("base")).alias("base"),
        (pl.col("price_usd") * pl.col("price_multiplier")).alias("price_usd"),
    )
    frames = []
    for path in sorted((SHARED / "cmc_mcap_nicolasdd1996" / "market_cap_snapshots").glob("*.csv")):
        snap = datetime.strptime(path.stem, "%Y%m%d").date()
        if not date(2016, 12, 1) <= snap < date(2020, 1, 1):
            continue
        df = pl.read_csv(path, infer_schema_length=0).select(
            pl.col("coin").str.strip_chars().alias("source_symbol"),
            pl.col("mkt_cap").cast(pl.Float64, strict=False).alias("market_cap_usd"),
        ).drop_nulls()
        frames.append(df.with_columns(pl.lit(snap).alias("date")))
    old = pl.concat(frames).with_columns(
        pl.col("market_cap_usd").rank("ordinal", descending=True).over("date").cast(pl.Int32).alias("rank"),
        pl.lit(None, pl.String).alias("name"), pl.lit(None, pl.Float64).alias("volume_24h_usd"),
        pl.lit(None, pl.Float64).alias("price_usd"), pl.lit("cmc_mcap_nicolasdd").alias("source"),
    )
    old = apply_symbol_map(old, "cmc_mcap_nicolasdd")
    cols = ["date", "rank", "name", "base", "source_symbol", "market_cap_usd", "volume_24h_usd", "price_usd", "source"]
    out = pl.concat([old.select(cols), cmc.select(cols)]).rename({"date": "snapshot_date", "source_symbol": "cmc_symbol"})
    dup = out.filter(pl.struct("snapshot_date", "base").is_duplicated())
    if len(dup):
        raise ValueError(f"two universe rows for one (snapshot_date, base): {dup}")
    return out.sort("snapshot_date", "rank")


def build_cdi() -> pl.DataFrame:
    """BCB SGS series 12 (CDI), daily rate in % per business day, as published."""
    return pl.read_csv(SHARED / "bcb_cdi_gilnei-r" / "CDI.csv").select(
        pl.col("Date").str.to_date().alias("date"), pl.col("cdi").cast(pl.Float64).alias("cdi_pct")
    ).sort("date")


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
    universe = build_universe()
    for name, frame in {
        "ohlcv_1d_usd": build_ohlcv(universe),
        "usd_brl": build_usd_brl(),
        "market_caps_monthly": build_market_caps(),
        "universe_monthly": universe,
        "cdi": build_cdi(),
        "ibov": build_ibov(),
    }.items():
        frame.write_parquet(OUT / f"{name}.parquet", compression="zstd", compression_level=19, statistics=True)
        print(name, frame.shape)


if __name__ == "__main__":
    main()
