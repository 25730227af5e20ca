"""Builds what the execution assets hand to the order manager: the broker for the configured mode and the
guard context (caps, limits and the day's market facts) from the settings."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from dca_pipeline.config import Settings, live_execution_problem
from dca_pipeline.execution.broker_interface import Broker, DailyPaperBroker
from dca_pipeline.execution.guards import GuardContext
from dca_pipeline.execution.intraday_fill import ExecutionParams
from dca_pipeline.execution.paper_account import AccountBroker, PaperAccount
from dca_pipeline.execution.paper_book_broker import BookOrBarsBroker, BookPaperBroker, books_from_snapshots
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import parquet_store


def make_broker(resource, settings: Settings, next_bars: pl.DataFrame, db: Path | None = None,  # noqa: ANN001
                window_start: date | None = None) -> tuple[Broker, str]:
    """(broker, approval mode): the paper broker behind its persistent account, or — only with broker: live AND
    DCA_LIVE_TRADING=1 — Mercado Bitcoin (or the router across `execution.venues`), whose orders always wait for
    manual approval.

    The paper broker fills an order from the stored order book of its symbol when a snapshot exists in the
    execution window (the `execution.window_hours` from `window_start`, the day after the orders' day: by default
    `next_bars`' date), and from bars otherwise with `execution.model` (stored `ohlcv_1h` bars, else hours derived
    from `next_bars`)."""
    if resource.mode == "live":  # the live client (and ccxt) is imported only when it may be used
        from dca_pipeline.execution.live_broker import LiveCcxtBroker, exchange_from_env, live_trading_enabled, routed_broker

        live_trading_enabled(resource.mode)  # refuses without DCA_LIVE_TRADING=1
        ex = settings.execution
        problem = live_execution_problem("live", ex)  # the resource may say live over a paper configuration
        if problem:
            raise ValueError(f"refusing to trade live: {problem}")
        if ex.venues:  # smart order routing across the configured venues
            return routed_broker(settings, resource.api_url or None), "manual"
        live = LiveCcxtBroker(exchange_from_env(resource.api_url or None), settings.fees.maker, settings.fees.taker,
                              style=ex.order_style, limit_minutes=ex.limit_deadline_minutes, amount_step=ex.amount_step,
                              inside_ticks=ex.limit_inside_ticks)
        return live, "manual"
    return AccountBroker(paper_engine(settings, next_bars, window_start), paper_account(db)), settings.execution.approval


class StoredIntraday:
    """The intraday datasets a paper engine reads for its window (hourly bars, order-book snapshots, trades), with
    their stored partitions listed once: a run over many days reads a day's partition only where one is stored
    (`parquet_store.read_range` of that day, the same frame), instead of listing three folders per day."""

    DATASETS = ("ohlcv_1h", "order_book", "trades")

    def __init__(self) -> None:
        self.stored = {ds: set(parquet_store.stored_partitions(ds)) for ds in self.DATASETS}
        self.empty = {ds: pl.DataFrame(schema=parquet_store.SCHEMAS.get(ds) or {}) for ds in self.DATASETS}

    def day(self, dataset: str, day: date) -> pl.DataFrame:
        """What `parquet_store.read_range(dataset, day, day)` gives (its empty frame when nothing is stored)."""
        if day.isoformat() in self.stored[dataset]:
            return parquet_store.read_range(dataset, day, day)
        return self.empty[dataset].clear()


def paper_engine(settings: Settings, next_bars: pl.DataFrame, window_start: date | None = None,
                 stored: StoredIntraday | None = None) -> BookOrBarsBroker:
    """The paper matching engine for one execution window: books where stored, bars elsewhere (see make_broker).
    `stored`: the run's `StoredIntraday` (else the day's partitions are looked up now)."""
    params = ExecutionParams.from_settings(settings)
    cols = [c for c in ("symbol", "open", "high", "low", "close") if c in next_bars.columns]
    day = window_start or (next_bars["date"][0] if "date" in next_bars.columns and len(next_bars) else None)
    hourly, levels, trades = None, pl.DataFrame(), pl.DataFrame()
    if day is not None:
        read = stored.day if stored is not None else (lambda ds, d: parquet_store.read_range(ds, d, d))
        hourly = read("ohlcv_1h", day)
        levels = read("order_book", day)
        trades = read("trades", day)
    bars = DailyPaperBroker(next_bars.select(cols), settings.fees.taker, settings.slippage_bps, params,
                            hourly if hourly is not None and len(hourly) else None)
    books = {}
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        books = books_from_snapshots(levels, trades, start, start + timedelta(hours=params.window_hours))
    ex = settings.execution
    style = "limit_then_market" if params.model == "maker_first" else "market"
    book_engine = BookPaperBroker(books, settings.fees.maker, settings.fees.taker, style=style,
                                  inside_ticks=ex.limit_inside_ticks, amount_step=ex.amount_step)
    return BookOrBarsBroker(book_engine, bars)


def paper_account(db: Path | None = None) -> PaperAccount:
    """The paper exchange's own account store (never the warehouse itself): one per warehouse file, beside it
    under `broker/` — $DCA_HOME/broker/warehouse.paper.sqlite for the default warehouse — so a backtest or an
    A/B variant in its own warehouse never sees another's orders."""
    db = Path(db) if db is not None else warehouse_path()
    return PaperAccount(db.parent / "broker" / f"{db.stem}.paper.sqlite")


def spend_caps_centavos(settings: Settings) -> tuple[int, int]:
    """(daily, monthly) caps: configured, else the monthly budget and twice the monthly budget."""
    ex = settings.execution
    daily = int(ex.daily_spend_cap_brl * 100) if ex.daily_spend_cap_brl is not None else settings.budget_centavos
    monthly = int(ex.monthly_spend_cap_brl * 100) if ex.monthly_spend_cap_brl is not None else 2 * settings.budget_centavos
    return daily, monthly


def guard_context(db: Path | None, settings: Settings, day_bars: pl.DataFrame, breaker_tripped: bool) -> GuardContext:
    """Limits from the settings; prices and 24h BRL volume (volume × close) from the day's bars."""
    rows = zip(day_bars["symbol"].to_list(), day_bars["close"].to_list(), day_bars["volume"].to_list()) if len(day_bars) else ()
    return guard_context_of_rows(db, settings, rows, breaker_tripped)


def guard_context_of_rows(db: Path | None, settings: Settings, day_rows: Iterable[tuple[str, float, float | None]],
                          breaker_tripped: bool) -> GuardContext:
    """`guard_context` of the day's bars given as (symbol, close, volume) rows, in the bars' order."""
    daily, monthly = spend_caps_centavos(settings)
    ex = settings.execution
    prices, volume = {}, {}
    for s, c, v in day_rows:
        prices[s] = c
        if v is not None and c is not None and v == v:
            volume[s] = v * c
    return GuardContext(
        db, daily, monthly, prices=prices, volume_24h_brl=volume, max_volume_share=ex.max_volume_share,
        max_position_centavos=int(ex.max_position_brl * 100) if ex.max_position_brl is not None else None,
        max_concentration=ex.max_concentration, breaker_tripped=breaker_tripped,
    )
