"""Partitioned data-quality checks on the raw datasets. Blocking (ERROR) where bad data would corrupt trading —
row rules, duplicate keys, too many rejected rows, exchange price far from the reference — WARN for the rest
(gaps, staleness, statistical anomalies, crossed books). Logic lives in row_rules.py / dataset_rules.py."""

from datetime import date, datetime, timedelta, timezone

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckExecutionContext, AssetsDefinition, asset_check

from dca_pipeline.config import cached_settings
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.ingestion.intraday import SourceCannotServe, active_markets, call_source, day_window, wanted_symbols
from dca_pipeline.ingestion.intraday_assets import order_book_snapshots, raw_ohlcv_1h, raw_ohlcv_1m, raw_ohlcv_5m, raw_trades
from dca_pipeline.ingestion.dataset_rules import (
    crossed_books, cross_source_deviations, expected_bars, find_gaps, return_outliers, stale_symbols, volume_spikes,
)
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import DAILY
from dca_pipeline.paths import warehouse_path
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.storage import parquet_store, quarantine
from dca_pipeline.storage.raw_store import read_daily_window

def _settings():  # noqa: ANN202 - read when an asset or check runs, never at import
    return cached_settings()


def _quality():  # noqa: ANN202
    return cached_settings().quality


def _day(context: AssetCheckExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def _day_range(context: AssetCheckExecutionContext) -> tuple[date, date]:
    """First and last day of the run's partitions (a single-run backfill checks its whole range at once)."""
    keys = context.op_execution_context.partition_key_range
    return date.fromisoformat(keys.start), date.fromisoformat(keys.end)


def _rows_of(dataset: str, frame: pl.DataFrame, day: date, last: date | None = None) -> AssetCheckResult:
    """Blocking: the share of the partition's rows rejected into quarantine stays under the configured maximum."""
    rejected = len(quarantine.read(warehouse_path(), dataset, day, last or day))
    total = rejected + len(frame)
    share = rejected / total if total else 0.0
    return AssetCheckResult(
        passed=share <= _quality().max_quarantine_fraction,
        metadata={"quarantined_rows": rejected, "stored_rows": len(frame), "share": round(share, 4),
                  "max_share": _quality().max_quarantine_fraction,
                  "partition": str(day) if last in (None, day) else f"{day}..{last}"},
    )


# ---- daily bars (raw_ohlcv_1d) -------------------------------------------------------------------------------

@asset_check(asset=raw_ohlcv_1d, partitions_def=DAILY, blocking=True, description="quarantined share of the day's rows <= quality.max_quarantine_fraction")
def quarantine_share(context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame) -> AssetCheckResult:
    return _rows_of("ohlcv_1d", raw_ohlcv_1d, *_day_range(context))


@asset_check(
    asset=raw_ohlcv_1d, partitions_def=DAILY, blocking=True,
    description="exchange close within quality.cross_source_tolerance of a reference BRL price (USD reference × USD/BRL)",
)
def close_matches_reference(
    context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame, market_data: MarketData
) -> AssetCheckResult:
    first, last = _day_range(context)
    client = market_data.client()
    try:
        reference = call_source(client, "fetch_reference_prices_brl", first, last)
    except SourceCannotServe as exc:
        return unverified(f"no reference price: {exc}")
    bad = cross_source_deviations(raw_ohlcv_1d, reference, _quality().cross_source_tolerance)
    compared = raw_ohlcv_1d.join(reference.select("symbol", "date"), on=["symbol", "date"], how="inner")
    if compared.is_empty() and not raw_ohlcv_1d.is_empty():
        return unverified("the reference covers none of the day's bars")
    return AssetCheckResult(
        passed=bad.is_empty(),
        metadata={"verified": True, "compared": len(compared), "deviating": len(bad),
                  "tolerance": _quality().cross_source_tolerance, "sample": markdown_table(bad)},
    )


def unverified(why: str) -> AssetCheckResult:
    """Nothing to compare against: reported as unverified — a warning, except live (DCA_ENV=live sets
    `broker: live`), where trading on an unverified price is refused: it blocks."""
    live = _settings().broker == "live"
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.ERROR if live else AssetCheckSeverity.WARN,
        metadata={"verified": False, "compared": 0, "reference": why, "blocking": live},
    )


@asset_check(asset=raw_ohlcv_1d, partitions_def=DAILY, description="robust z-score of daily log returns and volume spikes vs the trailing window")
def daily_anomalies(context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame) -> AssetCheckResult:
    first, last = _day_range(context)
    history = read_daily_window("raw_ohlcv_1d", first - timedelta(days=_quality().anomaly_lookback_days), last)
    if history.is_empty():
        history = raw_ohlcv_1d
    in_run = pl.col("date").is_between(first, last)
    outliers = return_outliers(history, "date", _quality().return_z_threshold).filter(in_run)
    spikes = volume_spikes(history, "date", _quality().volume_spike_factor).filter(in_run)
    return AssetCheckResult(
        passed=outliers.is_empty() and spikes.is_empty(), severity=AssetCheckSeverity.WARN,
        metadata={"return_outliers": len(outliers), "volume_spikes": len(spikes),
                  "outlier_sample": markdown_table(outliers), "spike_sample": markdown_table(spikes)},
    )


# ---- intraday bars (raw_ohlcv_1h, raw_ohlcv_5m, raw_ohlcv_1m) ------------------------------------------------

def _bar_checks(asset_def: AssetsDefinition, timeframe: str) -> list:
    """The checks every intraday bar dataset gets (same names on each asset)."""
    dataset, name = f"ohlcv_{timeframe}", asset_def.key.path[-1]

    # Row rules and one bar per (symbol, ts) hold by construction on stored rows (`split_valid_ohlcv` with key
    # (symbol, ts)): unit tests, not gates. The gate judges what the source delivered: the quarantined share.
    @asset_check(asset=asset_def, name="quarantine_share", partitions_def=DAILY, blocking=True,
                 description="quarantined share of the day's rows <= quality.max_quarantine_fraction")
    def quarantine_share(context: AssetCheckExecutionContext) -> AssetCheckResult:
        day = _day(context)
        return _rows_of(dataset, parquet_store.read_partition(dataset, day), day)

    @asset_check(asset=asset_def, name="complete", partitions_def=DAILY,
                 description="every listed symbol has every closed bar of the day (short gaps filled and flagged)")
    def complete(context: AssetCheckExecutionContext, market_data: MarketData) -> AssetCheckResult:
        day = _day(context)
        bars = parquet_store.read_partition(dataset, day)
        markets = active_markets(market_data.client())
        symbols = wanted_symbols(_settings().storage.intraday_symbols, markets) or bars["symbol"].unique().to_list()
        if not symbols:
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, metadata={"note": "no data and no symbol list for this day"})
        expected_syms = pl.DataFrame({"symbol": symbols}, schema={"symbol": pl.String})
        if markets is not None and "listed_from" in markets.columns:
            expected_syms = expected_syms.join(markets, on="symbol", how="left")
        start, end = day_window(day)
        gaps = find_gaps(bars, expected_bars(expected_syms, start, end, timeframe, now=datetime.now(timezone.utc)))
        per_symbol = gaps.group_by("symbol").agg(pl.len().alias("missing_bars"), pl.col("ts").min().alias("first_missing")).sort("symbol")
        return AssetCheckResult(
            passed=gaps.is_empty(), severity=AssetCheckSeverity.WARN,
            metadata={"missing_bars": len(gaps), "filled_bars": int(bars["filled"].sum()) if "filled" in bars.columns else 0,
                      "date": str(day), "sample": markdown_table(per_symbol)},
        )

    @asset_check(asset=asset_def, name="fresh", partitions_def=DAILY,
                 description="each symbol's newest real bar closed within quality.stale_after_bars bars of the day's end (or now)")
    def fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
        day = _day(context)
        bars = parquet_store.read_partition(dataset, day)
        real = bars.filter(~pl.col("filled")) if "filled" in bars.columns else bars
        symbols = list(_settings().storage.intraday_symbols) or bars["symbol"].unique().sort().to_list()
        as_of = min(day_window(day)[1], datetime.now(timezone.utc))
        stale = stale_symbols(real, symbols, as_of, timeframe, _quality().stale_after_bars)
        return AssetCheckResult(
            passed=stale.is_empty(), severity=AssetCheckSeverity.WARN,
            metadata={"stale_symbols": len(stale), "as_of": as_of.isoformat(), "sample": markdown_table(stale)},
        )

    @asset_check(asset=asset_def, name="anomalies", partitions_def=DAILY,
                 description="robust z-score (median/MAD) of bar log returns and volume spikes within the day")
    def anomalies(context: AssetCheckExecutionContext) -> AssetCheckResult:
        bars = parquet_store.read_partition(dataset, _day(context))
        real = bars.filter(~pl.col("filled")) if "filled" in bars.columns else bars
        outliers = return_outliers(real, "ts", _quality().return_z_threshold)
        spikes = volume_spikes(real, "ts", _quality().volume_spike_factor)
        return AssetCheckResult(
            passed=outliers.is_empty() and spikes.is_empty(), severity=AssetCheckSeverity.WARN,
            metadata={"return_outliers": len(outliers), "volume_spikes": len(spikes),
                      "outlier_sample": markdown_table(outliers), "spike_sample": markdown_table(spikes)},
        )

    return [quarantine_share, complete, fresh, anomalies]


(h_quarantine, h_complete, h_fresh, h_anomalies) = _bar_checks(raw_ohlcv_1h, "1h")
(m_quarantine, m_complete, m_fresh, m_anomalies) = _bar_checks(raw_ohlcv_1m, "1m")
(f_quarantine, f_complete, f_fresh, f_anomalies) = _bar_checks(raw_ohlcv_5m, "5m")


# ---- order books and trades ----------------------------------------------------------------------------------

@asset_check(asset=order_book_snapshots, partitions_def=DAILY, description="no snapshot has best bid >= best ask")
def books_not_crossed(context: AssetCheckExecutionContext) -> AssetCheckResult:
    crossed = crossed_books(parquet_store.read_partition("order_book", _day(context)))
    return AssetCheckResult(passed=crossed.is_empty(), severity=AssetCheckSeverity.WARN,
                            metadata={"crossed_snapshots": len(crossed), "sample": markdown_table(crossed)})


@asset_check(asset=raw_trades, partitions_def=DAILY, blocking=True,
             description="quarantined share of the day's trades <= quality.max_quarantine_fraction")
def trades_quarantine_share(context: AssetCheckExecutionContext) -> AssetCheckResult:
    """One row per (symbol, trade_id) holds by construction (`split_valid_trades`); what the source delivered
    is judged by the share it sent that had to be quarantined."""
    day = _day(context)
    return _rows_of("trades", parquet_store.read_partition("trades", day), day)
