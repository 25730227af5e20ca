"""A self-contained HTML tearsheet: headline metrics, equity vs invested vs benchmarks, drawdown, allocations."""
from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from dca_pipeline.backtest.engine import BacktestResult

WIDTH, HEIGHT, PAD = 900, 320, 50
COLORS = {"strategy": "#1f77b4", "invested": "#7f7f7f", "btc_dca": "#ff7f0e", "equal_weight_dca": "#2ca02c",
          "ibovespa_dca": "#9467bd", "btc_lump_sum": "#8c564b"}


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


def metrics_rows(metrics: dict[str, float]) -> list[tuple[str, str]]:
    pct = ("cagr", "volatility", "max_drawdown", "irr", "twr")
    return [(k, f"{v:.2%}" if k in pct else f"{v:,.2f}") for k, v in metrics.items()]


def write_tearsheet(result: BacktestResult, path: Path, title: str) -> Path:
    eq = result.equity.join(result.benchmarks.drop("invested_brl"), on="date")
    dates = eq["date"].to_list()
    as_float = lambda c: [float(x) for x in eq[c].to_list()]  # noqa: E731
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
        _svg_lines(dates, {"strategy": as_float("value_brl"), "invested": as_float("invested_brl"),
                           "btc_dca": as_float("btc_dca_brl"), "equal_weight_dca": as_float("equal_weight_dca_brl"),
                           "ibovespa_dca": as_float("ibovespa_dca_brl"), "btc_lump_sum": as_float("btc_lump_sum_brl")},
                   "Portfolio value vs invested capital and benchmarks (BRL)"),
        _svg_lines(dates, {"strategy": dd}, "Drawdown of the time-weighted index", percent=True),
        "<h2>Monthly allocation</h2>",
        _table([(str(m), f"{n} assets, max weight {w:.2%}") for m, n, w in alloc.iter_rows()]),
        "<h2>Costs</h2>",
        _table([("fees (BRL)", f"{result.metrics.get('total_fees_brl', 0):,.2f}"),
                ("delisted positions liquidated", str(len(result.liquidations)))]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    style = "body{font-family:sans-serif;max-width:960px;margin:auto} table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(sections)}</body></html>")
    return path
