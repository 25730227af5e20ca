"""Small helpers to attach readable previews of frames to Dagster metadata."""
from __future__ import annotations

import polars as pl
from dagster import MetadataValue

PREVIEW_ROWS = 20


def markdown_table(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """The first `rows` rows as a Markdown table (the UI renders it), or 'none' when empty."""
    if frame.is_empty():
        return MetadataValue.md("none")
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    if len(frame) > rows:
        lines.append(f"\n… {len(frame) - rows} more rows")
    return MetadataValue.md("\n".join(lines))
