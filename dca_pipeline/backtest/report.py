"""A self-contained HTML tearsheet: headline metrics, equity vs invested vs benchmarks, drawdown, allocations."""
from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from dca_pipeline.backtest.engine import BacktestResult
from dca_pipeline.execution.tca import shortfall_summary

WIDTH, HEIGHT, PAD = 900, 320, 50
COLORS = {"strategy": "#1f77b4", "invested": "#7f7f7f", "btc_dca": "#ff7f0e", "equal_weight_dca": "#2ca02c",
          "ibovespa_dca": "#9467bd", "btc_lump_sum": "#8c564b", "top20_dca": "#e377c2", "cdi": "#17becf"}


def _svg_lines(dates: list, series: dict[str, list[float]], title: str, percent: bool = False) -> str:
    """A plain SVG line chart (no plotting dependency), one polyline per series."""
    values = [v for s in series.values() for v in s if v is not None]
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1
    n = max(len(dates) - 1, 1)

    def xy(i: int, v: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * i / n
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - lo) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    fmt = (lambda v: f"{v:.0%}") if percent else (lambda v: f"R$ {v:,.0f}")
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{PAD}" y="20" font-weight="bold">{html.escape(title)}</text>',
             f'<text x="5" y="{PAD}" font-size="11">{fmt(hi)}</text>',
             f'<text x="5" y="{HEIGHT - PAD}" font-size="11">{fmt(lo)}</text>',
             f'<text x="{PAD}" y="{HEIGHT - 15}" font-size="11">{dates[0]}</text>',
             f'<text x="{WIDTH - PAD - 70}" y="{HEIGHT - 15}" font-size="11">{dates[-1]}</text>']
    for k, (name, s) in enumerate(series.items()):
        pts = " ".join(xy(i, v) for i, v in enumerate(s) if v is not None)
        color = COLORS.get(name, "#000")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{WIDTH - 200}" y="{40 + 15 * k}" fill="{color}" font-size="12">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


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


BENCH_SERIES = (("btc_dca", "btc_dca_brl"), ("top20_dca", "top20_dca_brl"), ("equal_weight_dca", "equal_weight_dca_brl"),
                ("ibovespa_dca", "ibovespa_dca_brl"), ("cdi", "cdi_brl"), ("btc_lump_sum", "btc_lump_sum_brl"))


def write_tearsheet(
    result: BacktestResult, path: Path, title: str, extra: dict[str, float] | None = None, *,
    coverage: pl.DataFrame | None = None, survivorship: pl.DataFrame | None = None, risk_free_note: str | None = None,
) -> Path:
    """The HTML tearsheet; `coverage` (verdict.coverage_table), `survivorship` (verdict.survivorship_bounds) and the
    risk-free sentence (metrics.RiskFree.note) add their sections when given."""
    bench = result.benchmarks.drop("invested_brl", *[c for c in ("cash_brl",) if c in result.benchmarks.columns])
    eq = result.equity.join(bench, on="date", how="left")
    dates = eq["date"].to_list()
    as_float = lambda c: [None if x is None else float(x) for x in eq[c].to_list()]  # noqa: E731
    curves = {"strategy": as_float("value_brl"), "invested": as_float("invested_brl")}
    curves.update({name: as_float(col) for name, col in BENCH_SERIES if col in eq.columns and eq[col].null_count() < len(eq)})
    index = (1 + eq["twr"]).to_list()
    peak, dd = 0.0, []
    for v in index:
        peak = max(peak, v)
        dd.append(v / peak - 1)
    alloc = result.targets.group_by("month").agg(pl.len().alias("assets"), pl.col("weight").max().alias("max_weight")).sort("month")
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>Walk-forward replay through the production functions; prices in BRL (USD × real USD/BRL); "
        "paper fills at the next open with slippage and the taker fee. TWR = time-weighted, IRR = money-weighted.</p>",
        _table(metrics_rows(result.metrics)),
        f"<p>Sharpe and Sortino: {html.escape(risk_free_note)}.</p>" if risk_free_note else "",
        _svg_lines(dates, curves, "Portfolio value vs invested capital and benchmarks (BRL; benchmarks count idle cash)"),
        _svg_lines(dates, {"strategy": dd}, "Drawdown of the time-weighted index", percent=True),
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
        coverage_html(coverage),
        "<h2>Survivorship bounds (delisted or stopped coins)</h2>",
        survivorship_html(survivorship),
    ]
    if extra:
        sections += ["<h2>Attribution vs BTC-only DCA (final value, BRL)</h2>", _table([(k, f"{v:,.2f}") for k, v in extra.items()])]
    path.parent.mkdir(parents=True, exist_ok=True)
    style = "body{font-family:sans-serif;max-width:960px;margin:auto} table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(sections)}</body></html>")
    return path
