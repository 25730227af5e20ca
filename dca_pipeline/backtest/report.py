"""The tearsheet: a self-contained HTML page (headline metrics, value vs invested vs benchmarks on a log scale,
drawdown, rolling 90-day volatility and Sharpe, calendar-year returns vs the benchmarks, regimes, monthly returns,
allocations, costs, coverage and survivorship), the same charts in one PNG, and a markdown summary with the PNG
embedded for the `backtest_report` asset. Charts: `tearsheet_charts` (matplotlib); series: `tearsheet_series`."""
from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dca_pipeline.backtest.engine import BacktestResult
from dca_pipeline.backtest.tearsheet_series import LABELS, TearsheetSeries
from dca_pipeline.execution.tca import shortfall_summary


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def monthly_returns(equity: pl.DataFrame) -> pl.DataFrame:
    """Time-weighted return of each calendar month: year, month, return."""
    return (
        equity.with_columns((1 + pl.col("twr")).alias("idx"))
        .group_by(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("month"))
        .agg(pl.col("idx").last().alias("end"), pl.col("date").min().alias("first"))
        .sort("first")
        .with_columns((pl.col("end") / pl.col("end").shift(1).fill_null(1.0) - 1).alias("return"))
        .select("year", "month", "return")
    )


def _heat(v: float | None) -> str:
    if v is None:
        return "#fff"
    x = max(-1.0, min(1.0, v / 0.5))  # ±50% a month saturates the colour
    return f"rgba(44,160,44,{x:.2f})" if x >= 0 else f"rgba(214,39,40,{-x:.2f})"


def heatmap_table(monthly: pl.DataFrame) -> str:
    """Years × months grid of monthly returns, coloured green (gain) to red (loss)."""
    head = "<tr><th>year</th>" + "".join(f"<th>{m}</th>" for m in range(1, 13)) + "</tr>"
    rows = []
    for year in sorted(monthly["year"].unique().to_list()):
        values = dict(monthly.filter(pl.col("year") == year).select("month", "return").iter_rows())
        cells = "".join(
            f'<td style="background:{_heat(values.get(m))}">{"" if values.get(m) is None else f"{values[m]:.0%}"}</td>'
            for m in range(1, 13)
        )
        rows.append(f"<tr><th>{year}</th>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def allocation_table(targets: pl.DataFrame, top: int = 12) -> str:
    """Month × symbol target weights for the most-held symbols (shaded by weight)."""
    if targets.is_empty():
        return "<p>no targets</p>"
    symbols = targets.group_by("symbol").agg(pl.col("weight").sum()).sort("weight", descending=True)["symbol"].head(top).to_list()
    head = "<tr><th>month</th>" + "".join(f"<th>{html.escape(s.split('/')[0])}</th>" for s in symbols) + "<th>other</th></tr>"
    rows = []
    for (month,), g in sorted(targets.partition_by("month", as_dict=True).items()):
        w = dict(zip(g["symbol"], g["weight"]))
        other = sum(v for k, v in w.items() if k not in symbols)
        cells = "".join(
            f'<td style="background:rgba(31,119,180,{min(1.0, w.get(s, 0) / 0.15):.2f})">{w.get(s, 0):.0%}</td>' for s in symbols
        )
        rows.append(f"<tr><th>{month:%Y-%m}</th>{cells}<td>{other:.0%}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


REGIME_COLORS = {"bull": "#2ca02c", "bear": "#d62728", "sideways": "#bcbd22", "crisis": "#7f0000", None: "#ddd"}


def regime_timeline(regimes: pl.DataFrame) -> str:
    """One coloured cell per month with the fitted regime (HMM on data before the month)."""
    if regimes.is_empty():
        return "<p>regimes not computed (run with the regime timeline enabled)</p>"
    cells = "".join(
        f'<span title="{m:%Y-%m}: {r}" style="display:inline-block;width:44px;margin:1px;text-align:center;'
        f'background:{REGIME_COLORS.get(r, "#ddd")};color:#fff;font-size:10px">{m:%Y-%m}</span>'
        for m, r in regimes.select("month", "regime").iter_rows()
    )
    legend = " ".join(f'<span style="color:{c}">■ {k}</span>' for k, c in REGIME_COLORS.items() if k)
    return f"<div>{cells}</div><p>{legend}</p>"


def metrics_rows(metrics: dict[str, float]) -> list[tuple[str, str]]:
    pct = ("cagr", "volatility", "max_drawdown", "irr", "twr", "cost_ratio", "var_95_daily", "cvar_95_daily",
           "risk_free_annual_avg")
    return [(k, f"{v:.2%}" if k in pct else f"{v:,.2f}" if isinstance(v, (int, float)) else str(v)) for k, v in metrics.items()]


def coverage_html(coverage: pl.DataFrame | None) -> str:
    """Per month: members of the snapshot's band with and without daily bars, by count and by market cap
    (a frame from `backtest.verdict.coverage_table`)."""
    if coverage is None or coverage.is_empty():
        return "<p>coverage not computed (no point-in-time snapshots for this window)</p>"
    head = ("<tr><th>month</th><th>snapshot</th><th>members</th><th>with bars</th><th>without bars</th>"
            "<th>market cap with bars (US$ M)</th><th>without (US$ M)</th><th>covered</th><th>missing</th></tr>")
    rows = "".join(
        f"<tr><td>{r['month']:%Y-%m}</td><td>{r['snapshot_date']}</td><td>{r['members']}</td><td>{r['with_bars']}</td>"
        f"<td>{r['without_bars']}</td><td>{r['mcap_with_bars_usd'] / 1e6:,.0f}</td><td>{r['mcap_without_bars_usd'] / 1e6:,.0f}</td>"
        f"<td>{r['mcap_covered']:.0%}</td><td>{html.escape(r['missing'] or '')}</td></tr>"
        for r in coverage.iter_rows(named=True)
    )
    return f"<table>{head}{rows}</table>"


def survivorship_html(bounds: pl.DataFrame | None) -> str:
    """The two survivorship bounds (a frame from `backtest.verdict.survivorship_bounds`): exit at the last price
    seen (optimistic) and written off to zero (pessimistic), with the positions each touched."""
    if bounds is None or bounds.is_empty():
        return "<p>survivorship bounds not computed (run both delisting policies: dca verdict --survivorship)</p>"
    head = "<tr><th>delisting policy</th><th>final value (BRL)</th><th>TWR</th><th>max drawdown</th><th>positions touched</th></tr>"
    fmt = lambda v, f: "n/a" if v is None else f.format(v)  # noqa: E731
    rows = "".join(
        f"<tr><td>{html.escape(r['policy'])}</td><td>{fmt(r['final_value_brl'], '{:,.2f}')}</td><td>{fmt(r['twr'], '{:.2%}')}</td>"
        f"<td>{fmt(r.get('max_drawdown'), '{:.2%}')}</td><td>{r['positions_touched']} {html.escape(r.get('symbols') or '')}</td></tr>"
        for r in bounds.iter_rows(named=True)
    )
    return f"<table>{head}{rows}</table>"


def _year_label(year: int, days: int) -> str:
    return f"{year}" + (f" ({days} days)" if days < 365 else "")


def yearly_html(yearly: pl.DataFrame) -> str:
    """Calendar-year time-weighted returns: one row per year, one column per curve (partial years say their days)."""
    names = [c for c in yearly.columns if c not in ("year", "days")]
    head = "<tr><th>year</th>" + "".join(f"<th>{html.escape(LABELS.get(n, n))}</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><th>{_year_label(r['year'], r['days'])}</th>" + "".join(f"<td>{_pct(r[n])}</td>" for n in names) + "</tr>"
        for r in yearly.iter_rows(named=True)
    )
    return f"<table>{head}{rows}</table>"


def shortfall_html(tca: pl.DataFrame | None) -> str:
    """Per execution model: orders, traded BRL, fees, shortfall in BRL and bps of the value at the decision prices
    (execution.tca.shortfall_summary); the backtest adds next-open market orders for the same orders."""
    if tca is None or tca.is_empty():
        return "<p>no filled orders</p>"
    head = "<tr><th>execution</th><th>orders</th><th>traded (BRL)</th><th>fees (BRL)</th><th>shortfall (BRL)</th><th>shortfall (bps)</th></tr>"
    rows = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td>{r['orders']}</td><td>{r['traded_brl']:,.2f}</td><td>{r['fees_brl']:,.2f}</td>"
        f"<td>{r['shortfall_brl']:,.2f}</td><td>{r['shortfall_bps']:.1f}</td></tr>"
        for r in shortfall_summary(tca).iter_rows(named=True)
    )
    return f"<table>{head}{rows}</table>"


def yearly_markdown(yearly: pl.DataFrame) -> str:
    names = [c for c in yearly.columns if c not in ("year", "days")]
    lines = ["| year | " + " | ".join(LABELS.get(n, n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {_year_label(r['year'], r['days'])} | " + " | ".join(_pct(r[n]) for n in names) + " |" for r in yearly.iter_rows(named=True)]
    return "\n".join(lines)


def coverage_markdown(coverage: pl.DataFrame | None) -> str:
    """The coverage sentence and the per-month table (members with bars / members, market cap covered, missing)."""
    from dca_pipeline.backtest.verdict import coverage_note

    if coverage is None or coverage.is_empty():
        return coverage_note(coverage)
    lines = [coverage_note(coverage), "", "| month | with bars / members | market cap covered | missing |", "|---|---|---|---|"]
    lines += [f"| {r['month']:%Y-%m} | {r['with_bars']}/{r['members']} | {r['mcap_covered']:.0%} | {r['missing'] or ''} |"
              for r in coverage.iter_rows(named=True)]
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" style="max-width:100%" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'


def headline(result: BacktestResult) -> str:
    """One line for the image: final value on invested capital, TWR CAGR, volatility, Sharpe, drawdown, BTC-only DCA."""
    m = result.metrics
    line = (f"final R$ {m.get('final_value_brl', 0):,.0f} on R$ {m.get('invested_brl', 0):,.0f} invested · CAGR (TWR) "
            f"{_pct(m.get('cagr'))} · volatility {_pct(m.get('volatility'))} · Sharpe {m.get('sharpe', float('nan')):.2f} · "
            f"max drawdown {_pct(m.get('max_drawdown'))}")
    if "btc_dca_brl" in result.benchmarks.columns and len(result.benchmarks):
        line += f" · BTC-only DCA final R$ {float(result.benchmarks['btc_dca_brl'][-1]):,.0f}"
    return line


def write_tearsheet(
    result: BacktestResult, path: Path, title: str, extra: dict[str, float] | None = None, *,
    coverage: pl.DataFrame | None = None, survivorship: pl.DataFrame | None = None, risk_free_note: str | None = None,
    risk_free: pl.DataFrame | None = None, png_path: Path | None = None,
) -> Path:
    """The HTML tearsheet at `path` (and, with `png_path`, every chart in one PNG there); `coverage`
    (verdict.coverage_table), `survivorship` (verdict.survivorship_bounds), the risk-free sentence
    (metrics.RiskFree.note) and the daily risk-free frame (RiskFree.daily: the rolling Sharpe's CDI; without it
    the rolling Sharpe is over zero) fill their sections when given (`tearsheet_extras` computes them all)."""
    from dca_pipeline.backtest.tearsheet_charts import chart_png, coverage_png, tearsheet_png

    s = TearsheetSeries(result.equity, result.benchmarks, risk_free)
    alloc = result.targets.group_by("month").agg(pl.len().alias("assets"), pl.col("weight").max().alias("max_weight")).sort("month")
    chart = lambda name, alt: _img(chart_png(name, s), alt)  # noqa: E731
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>Walk-forward replay through the production functions; prices in BRL (USD × real USD/BRL); "
        "paper fills at the next open with slippage and the taker fee. TWR = time-weighted, IRR = money-weighted.</p>",
        _table(metrics_rows(result.metrics)),
        f"<p>Sharpe and Sortino: {html.escape(risk_free_note)}.</p>" if risk_free_note else "",
        chart("value", "value vs invested capital and benchmarks, log scale"),
        chart("drawdown", "drawdown"),
        f"<h2>Rolling {s.window}-day risk</h2>",
        "<p>Annualised with 365 days; the Sharpe ratio is over the day's CDI"
        + ("" if risk_free is not None else " (not given here: over zero)") + ", like the headline Sharpe.</p>",
        chart("rolling_volatility", "rolling volatility"),
        chart("rolling_sharpe", "rolling Sharpe"),
        "<h2>Calendar-year returns vs the benchmarks (time-weighted)</h2>",
        chart("yearly", "calendar-year returns"),
        yearly_html(s.yearly),
        "<h2>Market regime timeline</h2>",
        regime_timeline(result.regimes),
        "<h2>Monthly returns (time-weighted)</h2>",
        heatmap_table(monthly_returns(result.equity)),
        "<h2>Allocation over time (target weights)</h2>",
        allocation_table(result.targets),
        _table([(str(m), f"{n} assets, max weight {w:.2%}") for m, n, w in alloc.iter_rows()]),
        "<h2>Costs</h2>",
        _table([("fees (BRL)", f"{result.metrics.get('total_fees_brl', 0):,.2f}"),
                ("slippage vs next open (BRL)", f"{result.metrics.get('total_slippage_brl', 0):,.2f}"),
                ("costs as % of invested", f"{result.metrics.get('cost_ratio', 0):.3%}"),
                ("delisted positions liquidated", str(len(result.liquidations)))]),
        "<h2>Implementation shortfall against the decision price</h2>",
        shortfall_html(getattr(result, "tca", None)),  # results built before the TCA existed have none
        "<h2>Coverage: members of the snapshot's rank band with and without daily bars</h2>",
        _img(coverage_png(coverage, survivorship), "coverage") if coverage is not None and not coverage.is_empty() else "",
        coverage_html(coverage),
        "<h2>Survivorship bounds (delisted or stopped coins)</h2>",
        survivorship_html(survivorship),
    ]
    if extra:
        sections += ["<h2>Attribution vs BTC-only DCA (final value, BRL)</h2>", _table([(k, f"{v:,.2f}") for k, v in extra.items()])]
    path.parent.mkdir(parents=True, exist_ok=True)
    style = "body{font-family:sans-serif;max-width:960px;margin:auto} table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(sections)}</body></html>")
    if png_path is not None:
        png_path.parent.mkdir(parents=True, exist_ok=True)
        png_path.write_bytes(tearsheet_png(s, title, headline(result), coverage, survivorship))
    return path


def tearsheet_markdown(
    result: BacktestResult, png: bytes | None, *, html_path: Path | None = None, png_path: Path | None = None,
    coverage: pl.DataFrame | None = None, survivorship: pl.DataFrame | None = None, risk_free: pl.DataFrame | None = None,
    risk_free_note: str | None = None,
) -> str:
    """The tearsheet for a Dagster UI markdown panel: the PNG embedded as a data URI, the files' paths, headline
    metrics, calendar-year returns vs the benchmarks, coverage and the survivorship bounds."""
    from dca_pipeline.backtest.verdict import survivorship_markdown

    s = TearsheetSeries(result.equity, result.benchmarks, risk_free)
    parts = []
    if png:
        parts.append(f"![tearsheet](data:image/png;base64,{base64.b64encode(png).decode()})")
    files = [f"{k}: `{p}`" for k, p in (("HTML", html_path), ("PNG", png_path)) if p is not None]
    if files:
        parts.append("Tearsheet files — " + ", ".join(files))
    parts += ["### Headline metrics", "| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in metrics_rows(result.metrics))]
    if risk_free_note:
        parts.append(f"Sharpe and Sortino: {risk_free_note}.")
    parts += ["### Calendar-year returns vs the benchmarks (time-weighted)", yearly_markdown(s.yearly),
              "### Coverage of the tiers' rank band", coverage_markdown(coverage),
              "### Survivorship bounds", survivorship_markdown(survivorship) if survivorship is not None
              else "not computed (run both delisting policies: `survivorship: true` / `dca backtest --survivorship`)"]
    return "\n\n".join(parts)


@dataclass(frozen=True)
class TearsheetExtras:
    """What the tearsheet adds to a backtest result: coverage, survivorship bounds and the risk-free series."""

    coverage: pl.DataFrame | None
    survivorship: pl.DataFrame | None
    risk_free: pl.DataFrame  # date, rf: the daily CDI (the fixed rate past its end) of the window
    risk_free_note: str

    def kwargs(self) -> dict:
        return {"coverage": self.coverage, "survivorship": self.survivorship, "risk_free": self.risk_free,
                "risk_free_note": self.risk_free_note}


def tearsheet_extras(settings, start: date, end: date, *, survivorship: bool = False,  # noqa: ANN001 - Settings
                     progress: Callable[[str], None] | None = None, run: Callable | None = None) -> TearsheetExtras:
    """The coverage table of the tiers' band, the window's risk-free series and sentence, and (if asked) both
    survivorship bounds (two more backtests through `run`, default `run_backtest`) — for the CLI and the
    `backtest_report` asset alike."""
    from dca_pipeline.backtest.metrics import risk_free_daily
    from dca_pipeline.backtest.verdict import _bundle_frame, survivorship_runs, window_coverage
    from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
    from dca_pipeline.ingestion.sources import ReplaySource

    bars, _ = split_valid_ohlcv(ReplaySource().fetch_ohlcv_1d(start - timedelta(days=1), end))
    rf = risk_free_daily(start, end, _bundle_frame("cdi"), float(settings.portfolio.risk_free_rate))
    bounds = survivorship_runs(settings, start, end, progress=progress, run=run) if survivorship else None
    return TearsheetExtras(window_coverage(settings, start, end, bars), bounds, rf.daily, rf.note())
