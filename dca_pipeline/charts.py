"""Charts for the Dagster UI (ground floor: plain lists in, Markdown out, nothing else of the package imported).

Each function draws one PNG with matplotlib (Agg backend, imported only when a chart is drawn, so importing the
code location stays fast) and returns it as a Markdown image, `![title](data:image/png;base64,...)`, which the
UI renders when the string is attached as `MetadataValue.md`.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence

# one colour per series or tier, fixed so the same thing keeps its colour from page to page
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def markdown_image(fig, title: str) -> str:  # noqa: ANN001
    """The figure as a base64 PNG Markdown image (the figure is closed). The charts set fixed margins, so the PNG
    needs no tight crop (which would lay the figure out a second time)."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def grouped_bars(labels: Sequence[str], values: Sequence[float], groups: Sequence[str], title: str,
                 ylabel: str, percent: bool = False) -> str:
    """One bar per label, coloured by its group (e.g. weights by tier), in the order given, with a legend."""
    plt = _pyplot()
    order = list(dict.fromkeys(groups))
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(order)}
    width, height = max(6.0, 0.45 * len(labels) + 2), 3.6
    fig, ax = plt.subplots(figsize=(width, height))
    # fixed margins in inches (no tight crop: one draw instead of two): the labels, slanted at 60 degrees in 8 pt,
    # need about 0.06 in of height per character
    bottom = 0.35 + 0.06 * max((len(str(label)) for label in labels), default=1)
    fig.subplots_adjust(left=0.85 / width, right=1 - 0.15 / width, top=1 - 0.35 / height, bottom=min(bottom / height, 0.6))
    scale = 100.0 if percent else 1.0
    ax.bar(range(len(labels)), [v * scale for v in values], color=[colours[g] for g in groups])
    ax.set_xticks(range(len(labels)), list(labels), rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    ax.set_title(title)
    if len(order) > 1:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=colours[g], label=str(g)) for g in order], fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return markdown_image(fig, title)


def _time_axes(height: float):  # noqa: ANN202
    """A figure with one axes over dates, with fixed margins that hold the title, a y label with tick labels of up
    to nine characters and the slanted dates (so the PNG needs no tight crop: one draw instead of two)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, height))
    fig.subplots_adjust(left=0.13, right=0.98, top=1 - 0.32 / height, bottom=0.7 / height)
    return fig, ax


def lines(x: Sequence, series: dict[str, Sequence[float]], title: str, ylabel: str, log: bool = False) -> str:
    """Several series over the same x (dates), optionally on a log y axis (values <= 0 are not drawn there)."""
    fig, ax = _time_axes(3.4)
    for i, (name, ys) in enumerate(series.items()):
        ys = [(y if (y is not None and (not log or y > 0)) else float("nan")) for y in ys]
        ax.plot(list(x), ys, label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
    if log:  # labelled in plain numbers (10,000 rather than 10^4: also cheaper to draw than mathtext)
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate(bottom=0.7 / 3.4)
    return markdown_image(fig, title)


def area_below_zero(x: Sequence, ys: Sequence[float], title: str, ylabel: str) -> str:
    """A drawdown-style curve (values <= 0, as fractions) filled down from zero, in percent."""
    fig, ax = _time_axes(2.6)
    pct = [100.0 * y for y in ys]
    ax.fill_between(list(x), pct, 0, color=PALETTE[3], alpha=0.4)
    ax.plot(list(x), pct, color=PALETTE[3], linewidth=1.2)
    ax.set_title(title)
    ax.set_ylabel(ylabel + " (%)")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate(bottom=0.7 / 2.6)
    return markdown_image(fig, title)
