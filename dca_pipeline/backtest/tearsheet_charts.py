"""The tearsheet's charts, drawn with matplotlib on an Agg canvas (no display, no pyplot state): the value of the
strategy vs invested capital and the benchmarks on a log scale, the drawdown, rolling 90-day volatility and
Sharpe, calendar-year returns vs the benchmarks, and the universe's coverage with the survivorship bounds.

Each `draw_*` fills one Axes; `chart_png` renders one chart alone (the HTML tearsheet's panels) and
`tearsheet_png` all of them in one image (docs/tearsheet.png, the `backtest_report` asset's metadata)."""
from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from dca_pipeline.backtest.tearsheet_series import LABELS, TearsheetSeries

COLORS = {"strategy": "#1f77b4", "invested": "#7f7f7f", "btc_dca": "#ff7f0e", "equal_weight_dca": "#2ca02c",
          "ibovespa_dca": "#9467bd", "btc_lump_sum": "#8c564b", "top20_dca": "#e377c2", "cdi": "#17becf"}


def _dates(ax) -> None:  # noqa: ANN001
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _brl(v: float, _pos: object = None) -> str:
    return f"R$ {v / 1e6:,.1f}M" if v >= 1e6 else f"R$ {v / 1e3:,.0f}k" if v >= 1e3 else f"R$ {v:,.0f}"


def draw_value(ax, s: TearsheetSeries, log: bool = True) -> None:  # noqa: ANN001 - matplotlib Axes
    """Strategy, invested capital (dashed) and every benchmark with data, in BRL; log scale by default."""
    dates = s.curves["date"].to_list()
    for name in [c for c in s.curves.columns if c != "date"]:
        ys = [v if v is not None and v > 0 else float("nan") for v in s.curves[name].to_list()]  # log scale: > 0 only
        ax.plot(dates, ys, color=COLORS.get(name, "#000"), label=LABELS.get(name, name),
                lw=2.2 if name == "strategy" else 1.1, ls="--" if name == "invested" else "-")
    if log:
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_brl))
    ax.set_title(f"Value vs invested capital and benchmarks (BRL, {'log' if log else 'linear'} scale; benchmarks count idle cash)",
                 fontsize=10, loc="left")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.grid(alpha=0.3, which="both" if log else "major")
    _dates(ax)


def draw_drawdown(ax, s: TearsheetSeries) -> None:  # noqa: ANN001
    """Drawdown of the time-weighted index: the strategy filled, BTC-only DCA as a line."""
    dates = s.drawdowns["date"].to_list()
    dd = [float("nan") if v is None else v for v in s.drawdowns["strategy"].to_list()]
    ax.fill_between(dates, dd, 0, color=COLORS["strategy"], alpha=0.35, label="strategy")
    if "btc_dca" in s.drawdowns.columns:
        ax.plot(dates, [float("nan") if v is None else v for v in s.drawdowns["btc_dca"].to_list()],
                color=COLORS["btc_dca"], lw=1, label=LABELS["btc_dca"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("Drawdown of the time-weighted index", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    _dates(ax)


def _draw_rolling(ax, s: TearsheetSeries, column: str, title: str, fmt) -> None:  # noqa: ANN001
    for name, frame in s.rolling.items():
        ax.plot(frame["date"].to_list(), [float("nan") if v is None else v for v in frame[column].to_list()],
                color=COLORS.get(name, "#000"), lw=1.6 if name == "strategy" else 1, label=LABELS.get(name, name))
    if fmt:
        ax.yaxis.set_major_formatter(fmt)
    ax.axhline(0, color="#444", lw=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    _dates(ax)


def draw_rolling_volatility(ax, s: TearsheetSeries) -> None:  # noqa: ANN001
    _draw_rolling(ax, s, "volatility", f"Rolling {s.window}-day volatility (annualised, √365)", PercentFormatter(1.0, decimals=0))


def draw_rolling_sharpe(ax, s: TearsheetSeries) -> None:  # noqa: ANN001
    _draw_rolling(ax, s, "sharpe", f"Rolling {s.window}-day Sharpe over the CDI (annualised, √365)", None)


def draw_yearly(ax, s: TearsheetSeries) -> None:  # noqa: ANN001
    """Grouped bars: each calendar year's time-weighted return of the strategy and the benchmarks."""
    y = s.yearly
    names = [c for c in y.columns if c not in ("year", "days")]
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(y))]
        vals = [float("nan") if v is None else v for v in y[name].to_list()]
        ax.bar(xs, vals, width=width, color=COLORS.get(name, "#000"), label=LABELS.get(name, name))
    ax.set_xticks(range(len(y)), [f"{yr}" + ("*" if d < 365 else "") for yr, d in zip(y["year"], y["days"])])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.axhline(0, color="#444", lw=0.6)
    ax.set_title("Calendar-year returns (time-weighted; * = partial year)", fontsize=10, loc="left")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.grid(alpha=0.3, axis="y")


def draw_coverage(ax, coverage: pl.DataFrame | None, survivorship: pl.DataFrame | None) -> None:  # noqa: ANN001
    """Members of the snapshot's rank band with and without daily bars per month (stacked), the covered share of
    the band's market cap (right axis), and the survivorship bounds as a note."""
    ax.set_title("Coverage of the tiers' rank band, and survivorship bounds", fontsize=10, loc="left")
    if coverage is None or coverage.is_empty():
        ax.text(0.5, 0.6, "coverage not computed (no point-in-time snapshots for this window)", ha="center", transform=ax.transAxes)
    else:
        months = coverage["month"].to_list()
        ax.bar(months, coverage["with_bars"].to_list(), width=20, color="#2ca02c", label="members with daily bars")
        ax.bar(months, coverage["without_bars"].to_list(), width=20, bottom=coverage["with_bars"].to_list(), color="#d62728",
               label="members without bars")
        ax.set_ylabel("coins", fontsize=8)
        ax.set_ylim(0, max(coverage["members"].max() or 1, 1) * 1.35)  # headroom for the survivorship note
        _dates(ax)
        twin = ax.twinx()
        twin.plot(months, coverage["mcap_covered"].to_list(), color="#000", lw=1.2, label="market cap covered")
        twin.set_ylim(0, 1.35)
        twin.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        twin.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7, loc="lower left")
    if survivorship is None or survivorship.is_empty():
        note = "survivorship bounds not computed (dca backtest --survivorship)"
    else:
        note = "\n".join(f"{r['policy']}: final R$ {r['final_value_brl']:,.0f}, TWR {r['twr']:.1%}, "
                         f"{r['positions_touched']} positions touched" for r in survivorship.iter_rows(named=True)
                         if r["final_value_brl"] is not None)
    ax.text(0.99, 0.97, note, ha="right", va="top", fontsize=7, transform=ax.transAxes,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85})


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


CHARTS: dict[str, Callable] = {"value": draw_value, "drawdown": draw_drawdown, "rolling_volatility": draw_rolling_volatility,
                               "rolling_sharpe": draw_rolling_sharpe, "yearly": draw_yearly}


def chart_png(name: str, s: TearsheetSeries, dpi: int = 90, size: tuple[float, float] = (10, 3.6)) -> bytes:
    """One of CHARTS alone as PNG bytes."""
    fig = Figure(figsize=size, layout="constrained")
    CHARTS[name](fig.add_subplot(), s)
    return _png(fig, dpi)


def coverage_png(coverage: pl.DataFrame | None, survivorship: pl.DataFrame | None, dpi: int = 90) -> bytes:
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    draw_coverage(fig.add_subplot(), coverage, survivorship)
    return _png(fig, dpi)


def tearsheet_png(s: TearsheetSeries, title: str, headline: str, coverage: pl.DataFrame | None = None,
                  survivorship: pl.DataFrame | None = None, dpi: int = 90) -> bytes:
    """All charts in one image: title and a headline line, value (log), drawdown, rolling volatility and Sharpe
    side by side, yearly returns, coverage and survivorship."""
    fig = Figure(figsize=(12, 17), layout="constrained")
    fig.suptitle(f"{title}\n{headline}", fontsize=11, x=0.01, ha="left")
    grid = fig.add_gridspec(5, 2, height_ratios=[1.6, 0.8, 0.9, 1.0, 0.9])
    draw_value(fig.add_subplot(grid[0, :]), s)
    draw_drawdown(fig.add_subplot(grid[1, :]), s)
    draw_rolling_volatility(fig.add_subplot(grid[2, 0]), s)
    draw_rolling_sharpe(fig.add_subplot(grid[2, 1]), s)
    draw_yearly(fig.add_subplot(grid[3, :]), s)
    draw_coverage(fig.add_subplot(grid[4, :]), coverage, survivorship)
    return _png(fig, dpi)
