"""What the UI shows on `target_weights`: the month's weights with each coin's tier, score, cap and whether the
cap binds, a bar chart of the weights coloured by tier, and the constraints that bind (from the optimizer's
diagnostics and the constraint plan)."""
from __future__ import annotations

import polars as pl
from dagster import MetadataValue

from dca_pipeline.charts import grouped_bars
from dca_pipeline.metadata import frame_table

AT_CAP_TOLERANCE = 1e-6


def weights_explained(weights: pl.DataFrame) -> pl.DataFrame:
    """tier, symbol, weight, cap, score and `binding` ("at cap" when the weight reached its cap), by tier then
    weight (largest first)."""
    frame = weights if "score" in weights.columns else weights.with_columns(pl.lit(None, pl.Float64).alias("score"))
    return (frame.select("tier", "symbol", "weight", "cap", "score")
            .with_columns(pl.when(pl.col("weight") >= pl.col("cap") - AT_CAP_TOLERANCE).then(pl.lit("at cap"))
                          .otherwise(pl.lit("")).alias("binding"))
            .sort(["tier", "weight"], descending=[False, True], nulls_last=True))


def target_weights_metadata(weights: pl.DataFrame, diagnostics: dict, notes: list[str]) -> dict[str, MetadataValue]:
    """`weights_table`, `weights_chart` (bars by tier) and `binding_constraints` (a Markdown list)."""
    table = weights_explained(weights)
    shown = table.filter(pl.col("weight") > 0)
    chart = grouped_bars(shown["symbol"].to_list(), shown["weight"].to_list(), [str(t) for t in shown["tier"].to_list()],
                         "Target weights by tier", "weight", percent=True) if len(shown) else "no weights this month: all cash"
    lines = [f"- {x}" for x in str(diagnostics.get("binding_constraints", "none")).split("; ") if x and x != "none"]
    lines += [f"- plan: {n}" for n in notes]
    for key in ("constraint_conflicts", "fallback", "turnover_blend_cap_clipped"):
        if str(diagnostics.get(key, "none")) != "none":
            lines.append(f"- {key.replace('_', ' ')}: {diagnostics[key]}")
    return {
        "weights_table": frame_table(table),
        "weights_chart": MetadataValue.md(chart),
        "binding_constraints": MetadataValue.md("\n".join(lines) or "none: no cap, tier bound or turnover cap binds"),
    }
