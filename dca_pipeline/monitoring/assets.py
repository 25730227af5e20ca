"""Monitoring asset: daily performance (invested, value, cash, P&L, TWR) and the ledger reconciliation check."""

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from dagster import AssetCheckResult, AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, MetadataValue, asset, asset_check

from dca_pipeline.execution import ledger, ledger_views
from dca_pipeline.execution.positions import next_day_performance
from dca_pipeline.monitoring.explain import performance_explained
from dca_pipeline.metadata import range_metadata
from dca_pipeline.money import to_brl
from dca_pipeline.partitions import DAILY, cadence
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck


PERFORMANCE_SCHEMA = {
    "date": pl.Date,
    "invested_brl": pl.Decimal(18, 2),
    "value_brl": pl.Decimal(18, 2),
    "cash_brl": pl.Decimal(18, 2),
    "positions_value_brl": pl.Decimal(18, 2),
    "fees_brl": pl.Decimal(18, 2),
    "pnl_brl": pl.Decimal(18, 2),
    "daily_return": pl.Float64,
    "twr": pl.Float64,
}


def _previous(db, day: date) -> tuple[int, float]:  # noqa: ANN001
    """(value in centavos, TWR) of the last valued day before `day`; a portfolio with no earlier activity starts
    at (0, 0). Days in between may be missing only if nothing happened on them (a day blocked by its gates
    records no contribution and no order); an executed but unvalued day is an error."""
    last = None
    if duck.table_exists(db, "monitoring", "portfolio_performance"):
        prev = duck.query(db, "select date, value_brl, twr from monitoring.portfolio_performance where date < ? "
                              "order by date desc limit 1", [day])
        if len(prev):
            last = prev.row(0, named=True)
    since = last["date"] if last else None
    if _activity_between(db, since, day):
        missing = (since + timedelta(days=1)) if since else "an earlier day"
        raise RuntimeError(f"portfolio_performance for {missing} is missing: materialize the days in order")
    return (int(last["value_brl"] * 100), float(last["twr"])) if last else (0, 0.0)


def _activity_between(db, after: date | None, before: date) -> bool:  # noqa: ANN001
    """Any cash entry dated strictly between `after` (None: the beginning) and `before`."""
    if not duck.table_exists(db, "execution", "cash_ledger"):
        return False
    lo = after or date.min
    rows = duck.query(db, "select count(*) as n from execution.cash_ledger where date > ? and date < ?", [lo, before])
    return bool(rows["n"][0])


@asset(
    group_name="monitoring",
    tags=cadence("daily"),
    partitions_def=DAILY,
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "monitoring", "partition_column": "date"},
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
    owners=["team:quant"],
    backfill_policy=BackfillPolicy.single_run(),  # a range values its days in order, in one run
)
def portfolio_performance(context: AssetExecutionContext, positions: pl.DataFrame, warehouse: Warehouse) -> pl.DataFrame:
    """Invested (contributions), value (positions + cash), P&L and the time-weighted return to date (each day of a
    backfill range in order)."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    db = warehouse.db()
    prev_value, prev_twr = _previous(db, first)
    last = end - timedelta(days=1)
    entries = ledger.ledger_totals_by_day(db, first, last)  # one read of the cash entries for the range
    values: dict[date, Decimal] = {}  # each day's positions value (sum of its rows)
    for day, value in positions.select("date", "market_value_brl").iter_rows() if len(positions) else ():
        values[day] = values.get(day, 0) + value
    rows = []
    for i in range((end - first).days):
        day = first + timedelta(days=i)
        totals, own = entries[day]
        cash = sum(totals.values())
        positions_value = int(values.get(day, 0) * 100)
        perf = next_day_performance(prev_value, prev_twr, own.get("contribution", 0), positions_value + cash, cash, totals.get("contribution", 0))
        prev_value, prev_twr = perf.value_centavos, perf.twr
        rows.append({
            "date": day,
            "invested_brl": to_brl(perf.invested_centavos),
            "value_brl": to_brl(perf.value_centavos),
            "cash_brl": to_brl(cash),
            "positions_value_brl": to_brl(positions_value),
            "fees_brl": to_brl(-totals.get("fee", 0)),
            "pnl_brl": to_brl(perf.pnl_centavos),
            "daily_return": perf.daily_return,
            "twr": perf.twr,
        })
    frame = pl.DataFrame(rows, schema=PERFORMANCE_SCHEMA)
    metadata = {k: (float(v) if v is not None and k != "date" else str(v)) for k, v in rows[-1].items()} | {"days": len(rows)} \
        | performance_explained(db, frame)  # curves vs BTC-only DCA, drawdown (monitoring/explain.py)
    if len(rows) > 1:  # a range: its values, charts and table on its last partition (metadata.range_metadata)
        metadata = range_metadata(context, metadata, first, last)
    context.add_output_metadata(metadata)
    return frame


@asset_check(asset=portfolio_performance, partitions_def=DAILY, blocking=True,
             description="contributions + realized P&L = cash + cost basis (fees inside both), to the centavo; cash >= 0")
def ledger_reconciles(context, warehouse: Warehouse) -> AssetCheckResult:  # noqa: ANN001
    day = context.partition_time_window.end.date() - timedelta(days=1)  # the last day of the partition or range
    ident = ledger_views.identity(warehouse.db(), day)
    diff = ident.contributions + ident.realized - (ident.cash + ident.cost)
    return AssetCheckResult(
        passed=ident.holds,
        metadata={
            "contributions_brl": float(to_brl(ident.contributions)),
            "realized_pnl_brl": float(to_brl(ident.realized)),
            "cash_brl": float(to_brl(ident.cash)),
            "cost_basis_brl": float(to_brl(ident.cost)),
            "fees_brl": float(to_brl(ident.fees)),
            "difference_centavos": diff,
        },
    )


class BacktestConfig(Config):
    """Range and output of the backtest (set it in the launchpad when materializing from the UI)."""

    start: str = "2019-01-01"
    end: str = "2022-01-31"
    regime_timeline: bool = True
    attribution: bool = False
    survivorship: bool = False  # also run both delisting policies (two more backtests) for the tearsheet's bounds
    overrides: list[str] = []  # strategy settings for this backtest only, e.g. ["portfolio.objective=max_sharpe"]


@asset(group_name="monitoring", kinds={"polars", "html"}, owners=["team:quant"])
def backtest_report(context: AssetExecutionContext, config: BacktestConfig, pipeline_config: PipelineConfig,
                    warehouse: Warehouse) -> MaterializeResult:
    """Walk-forward backtest over the bundled history through the production functions, with an HTML tearsheet and
    its charts as a PNG in $DCA_HOME/reports; the metadata shows the tearsheet (the PNG embedded, headline metrics,
    calendar-year returns vs the benchmarks, coverage, survivorship bounds) and the files' paths."""
    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.backtest.report import metrics_rows, tearsheet_extras, tearsheet_markdown, write_tearsheet

    start, end = date.fromisoformat(config.start), date.fromisoformat(config.end)
    from dca_pipeline.backtest.sweep import override

    settings = pipeline_config.settings()
    for item in config.overrides:
        key, _, value = item.partition("=")
        settings = override(settings, key, value)
    result = run_backtest(settings, start, end, progress=context.log.info, with_regime=config.regime_timeline)
    parts = None
    if config.attribution:
        from dca_pipeline.backtest.attribution import attribution

        parts = attribution(settings, start, end, result)
    extras = tearsheet_extras(settings, start, end, survivorship=config.survivorship, progress=context.log.info)
    path = warehouse.reports_dir() / f"backtest_{start}_{end}.html"
    png = path.with_suffix(".png")
    write_tearsheet(result, path, f"Backtest {start} → {end}", parts, png_path=png, **extras.kwargs())
    last = result.benchmarks.row(-1, named=True)
    rows = metrics_rows(result.metrics) + [
        ("btc_dca_value_brl", f"{float(last['btc_dca_brl']):,.2f}"),
        ("equal_weight_dca_value_brl", f"{float(last['equal_weight_dca_brl']):,.2f}"),
        ("ibovespa_dca_value_brl", f"{float(last['ibovespa_dca_brl']):,.2f}"),
        ("btc_lump_sum_value_brl", f"{float(last['btc_lump_sum_brl']):,.2f}"),
    ] + [(k, f"{v:,.2f}") for k, v in (parts or {}).items()]
    table = "| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return MaterializeResult(
        metadata={"summary": MetadataValue.md(table), "overrides": MetadataValue.json(list(config.overrides)), "tearsheet": MetadataValue.path(str(path)),
                  "tearsheet_png": MetadataValue.path(str(png)),
                  "tearsheet_view": MetadataValue.md(tearsheet_markdown(result, png.read_bytes(), html_path=path, png_path=png, **extras.kwargs())),
                  **{k: float(v) for k, v in result.metrics.items()}}
    )
