"""The TCA asset: implementation shortfall of every filled order of the day against its decision price (the reference
price it was planned at), from the event ledger, stored in `execution.tca` (execution/tca.py does the arithmetic)."""
from datetime import timedelta

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dca_pipeline.execution import ledger_views, oms
from dca_pipeline.execution.tca import SHORTFALL_SCHEMA, implementation_shortfall, shortfall_summary
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import DAILY
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage import duck
from dca_pipeline.storage.resources import Warehouse


def day_shortfall(db, day, label: str) -> pl.DataFrame:  # noqa: ANN001
    """The day's orders (as planned, with their decision prices) against what the ledger says they filled."""
    planned = [o for o in oms.planned_orders(db, day) if o.ref_price]
    if not planned:
        return pl.DataFrame(schema=SHORTFALL_SCHEMA)
    orders = pl.DataFrame([{"date": day, "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side,
                            "amount_centavos": o.amount_centavos, "ref_price_brl": float(o.ref_price)} for o in planned])
    states = ledger_views.order_states(db, day)
    fills = states.select("client_order_id", pl.col("filled_quantity").alias("quantity"),
                          pl.col("filled_centavos").alias("notional_centavos"), "fee_centavos")
    return implementation_shortfall(orders, fills, label)


@asset(group_name="execution", partitions_def=DAILY, deps=[AssetKey("fills")], kinds={"duckdb", "polars"}, owners=["team:trading"], pool="duckdb_warehouse",
       metadata={"table": "execution.tca"})
def execution_tca(context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse) -> MaterializeResult:
    """Implementation shortfall per order against the decision price, fees included (execution/tca.py), labelled
    with the execution model (`execution.model` on the paper broker, `order_style` live)."""
    settings = config.settings()
    db = warehouse.db()
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    days = [first + timedelta(days=i) for i in range((end - first).days)]
    label = settings.execution.model if settings.broker == "paper" else f"live:{settings.execution.order_style}"
    table = pl.concat([day_shortfall(db, d, label) for d in days])
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "execution", "tca", table, "date between ? and ?", [days[0], days[-1]])
    summary = shortfall_summary(table)
    return MaterializeResult(metadata={
        "orders": len(table),
        "shortfall_brl": float(table["shortfall_centavos"].sum() / 100) if len(table) else 0.0,
        "shortfall_bps": float(summary["shortfall_bps"][0]) if len(summary) else 0.0,
        "tca_table": markdown_table(table.select("date", "symbol", "side", "decision_price", "avg_price", "fee_centavos",
                                                 "shortfall_centavos", "shortfall_bps")),
    })
