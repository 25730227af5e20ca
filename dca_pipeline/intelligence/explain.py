"""What the UI shows on `market_regime`: the month's regime probabilities as a table and a bar chart."""
from __future__ import annotations

import polars as pl
from dagster import MetadataValue

from dca_pipeline.charts import grouped_bars
from dca_pipeline.metadata import frame_table


def regime_metadata(label: str, probabilities: dict[str, float]) -> dict[str, MetadataValue]:
    """`probabilities_table` (regime, probability, chosen) and `probabilities_chart`, most likely first."""
    frame = pl.DataFrame({"regime": list(probabilities), "probability": [float(v) for v in probabilities.values()]},
                         schema={"regime": pl.String, "probability": pl.Float64}).sort("probability", descending=True)
    frame = frame.with_columns((pl.col("regime") == label).alias("chosen"))
    chart = grouped_bars(frame["regime"].to_list(), frame["probability"].to_list(), frame["regime"].to_list(),
                         f"Regime probabilities (chosen: {label})", "probability", percent=True)
    return {"probabilities_table": frame_table(frame), "probabilities_chart": MetadataValue.md(chart)}
