"""What the UI shows on `dca_orders`: every decision of the day (or range) with its reason — each order placed and
each target skipped (stale or missing price, below the minimum order, a guard, the circuit breaker…), as stored
in `execution.day_decisions` — and a chart of the BRL ordered per coin."""
from __future__ import annotations

import polars as pl
from dagster import MetadataValue

from dca_pipeline.charts import grouped_bars
from dca_pipeline.metadata import frame_table, markdown_table


def decisions_explained(decisions: pl.DataFrame) -> pl.DataFrame:
    """date, symbol, side, decision, amount_brl, reason: orders first, then skips, each by date and symbol."""
    if decisions.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, "symbol": pl.String, "side": pl.String, "decision": pl.String,
                                    "amount_brl": pl.Float64, "reason": pl.String})
    return (decisions.with_columns((pl.col("amount_centavos") / 100).alias("amount_brl"),
                                   (pl.col("decision") == "skipped").alias("_skip"))
            .sort(["_skip", "date", "symbol"]).select("date", "symbol", "side", "decision", "amount_brl", "reason"))


def ordered_per_coin(orders: pl.DataFrame) -> pl.DataFrame:
    """symbol, side, amount_brl summed over the period, largest first."""
    if orders.is_empty():
        return pl.DataFrame(schema={"symbol": pl.String, "side": pl.String, "amount_brl": pl.Float64})
    return (orders.group_by("symbol", "side").agg((pl.col("amount_centavos").sum() / 100).alias("amount_brl"))
            .sort(["amount_brl", "symbol"], descending=[True, False]))


CHART_BARS = 20  # the orders chart shows the 19 largest coins; the others of each side share an "other" bar


def chart_rows(per_coin: pl.DataFrame, bars: int = CHART_BARS) -> pl.DataFrame:
    """`ordered_per_coin` for the chart: the largest `bars` - 1 rows as they are and, when more remain, one
    "other (n coins)" row per side with their sum (a range orders dozens of coins; every one stays in the tables)."""
    if len(per_coin) <= bars:
        return per_coin
    rest = per_coin.slice(bars - 1)
    other = (rest.group_by("side", maintain_order=True).agg(pl.len().alias("n"), pl.col("amount_brl").sum(), pl.col("symbol").first())
             .select(pl.when(pl.col("n") == 1).then(pl.col("symbol"))  # a side's one remaining coin keeps its name
                     .otherwise(pl.lit("other (") + pl.col("n").cast(pl.String) + pl.lit(" coins)")).alias("symbol"), "side", "amount_brl"))
    return pl.concat([per_coin.head(bars - 1), other])


def orders_metadata(orders: pl.DataFrame, decisions: pl.DataFrame) -> dict[str, MetadataValue]:
    """`decisions_table` (every order and skip with its reason), `skip_reasons` (counts), `orders_chart`."""
    table = decisions_explained(decisions)
    skips = table.filter(pl.col("decision") == "skipped")
    per_coin = ordered_per_coin(orders)
    days = orders["date"].n_unique() if len(orders) else 0
    shown = chart_rows(per_coin)
    chart = grouped_bars(shown["symbol"].to_list(), shown["amount_brl"].to_list(), shown["side"].to_list(),
                         f"BRL ordered per coin ({days} day{'s' if days != 1 else ''})", "BRL") if len(per_coin) \
        else "no orders: every target was skipped (see decisions_table)"
    return {
        "decisions_table": frame_table(table, 500),
        "skip_reasons": markdown_table(skips.group_by("reason").len("targets").sort("targets", descending=True), 30),
        "orders_chart": MetadataValue.md(chart),
    }
