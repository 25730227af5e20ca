"""Small helpers to attach readable previews of frames to Dagster metadata."""
from __future__ import annotations

from datetime import date

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


def _cell(value: object) -> object:
    """A table cell the UI accepts: str, int, float, bool or None (dates and Decimals as text / float)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else str(value)


def frame_table(frame: pl.DataFrame, rows: int = 200) -> MetadataValue:
    """The first `rows` rows as a Dagster table (sortable in the UI, columns typed), floats rounded to 6 places."""
    from dagster import TableColumn, TableRecord, TableSchema

    head = frame.head(rows).with_columns(pl.col(pl.Float64).round(6))
    kinds = {pl.Int64: "int", pl.Int32: "int", pl.Float64: "float", pl.Boolean: "bool"}
    schema = TableSchema(columns=[TableColumn(name=c, type=kinds.get(t, "string")) for c, t in head.schema.items()])
    return MetadataValue.table([TableRecord({k: _cell(v) for k, v in row.items()}) for row in head.iter_rows(named=True)], schema=schema)


def range_metadata(context, metadata: dict, first: date, last: date, asset_key=None) -> dict:  # noqa: ANN001
    """A range run's metadata for Dagster, which copies an output's metadata into the materialization of every
    partition of the range: everything — the range's totals, last values, tables and charts — is attached to the
    last partition (the asset's latest materialization in the UI); the output metadata returned for every
    partition names only the range. A total of the range on each day would read as that day's; and it would be
    serialized 365 times."""
    if metadata:
        context.add_asset_metadata(dict(metadata), asset_key=asset_key, partition_key=last.isoformat())
    return {"range": f"{first}..{last}"}
