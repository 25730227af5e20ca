"""Execution assets: the day's DCA orders, their paper fills and the resulting positions, via the ledger."""

from datetime import date, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    asset,
    asset_check,
)

from dca_pipeline.config import cached_settings
from dca_pipeline.execution import ledger
from dca_pipeline.execution.broker import paper_fills
from dca_pipeline.execution.orders import plan_dca_orders, total_ordered_centavos
from dca_pipeline.execution.positions import last_prices, value_positions
from dca_pipeline.execution.risk import drawdown_breaker
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.ingestion.quality import split_valid_ohlcv
from dca_pipeline.metadata import markdown_table
from dca_pipeline.money import daily_contribution_centavos, to_brl
from dca_pipeline.partitions import daily_partitions
from dca_pipeline.portfolio.assets import target_weights
from dca_pipeline.resources import Broker, MarketData, PipelineConfig, Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.raw_store import read_daily_window

DAILY = daily_partitions(cached_settings())
GROUP = "execution"
PRICE_LOOKBACK_DAYS = 400  # a coin that stopped trading keeps its last close (see `price_date`), never vanishes


def _day(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@asset(
    group_name=GROUP,
    partitions_def=DAILY,
    deps=[target_weights],
    pool="duckdb_warehouse",
    kinds={"duckdb"},
    metadata={"table": "execution.dca_orders"},
)
def dca_orders(
    context: AssetExecutionContext,
    target_weights: pl.DataFrame,
    raw_ohlcv_1d: pl.DataFrame,
    config: PipelineConfig,
    warehouse: Warehouse,
) -> MaterializeResult:
    """Credit the day's budget slice, then buy the most underweight targets with the available cash."""
    settings = config.settings()
    day = _day(context)
    db = warehouse.db()
    contribution = daily_contribution_centavos(settings.budget_centavos, day)
    cash = ledger.cash_balance_centavos(db, day - timedelta(days=1)) + contribution
    breaker = drawdown_breaker(_twr_history(db, day), settings.risk.max_drawdown_halt)
    orders = plan_dca_orders(
        day,
        target_weights.filter(pl.col("weight") > 0),
        ledger.holdings(db, day - timedelta(days=1)),
        raw_ohlcv_1d.filter(pl.col("date") == day).select("symbol", "close"),
        cash,
        settings.min_order_centavos,
    )
    if breaker.tripped:
        context.log.warning(f"circuit breaker: drawdown {breaker.drawdown:.1%} beyond -{breaker.threshold:.0%}; no orders")
        orders = orders.clear()
    orders = ledger.record_orders(db, day, orders, contribution)
    spent = total_ordered_centavos(orders)
    return MaterializeResult(
        metadata={
            "orders": len(orders),
            "contribution_brl": float(to_brl(contribution)),
            "cash_available_brl": float(to_brl(cash)),
            "ordered_brl": float(to_brl(spent)),
            "carried_forward_brl": float(to_brl(cash - spent)),
            "circuit_breaker": "tripped" if breaker.tripped else "ok",
            "drawdown": breaker.drawdown,
            "orders_table": markdown_table(orders.select("symbol", "amount_brl", "deficit_brl", "status")),
        }
    )


@asset(group_name=GROUP, partitions_def=DAILY, deps=[dca_orders], pool="exchange_api", kinds={"duckdb"},
       metadata={"table": "execution.fills"})
def fills(
    context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse, market_data: MarketData, broker: Broker
) -> MaterializeResult:
    """Send the day's orders to the broker; the paper broker fills at the next day's open + slippage + taker fee."""
    broker.ensure_allowed()
    settings = config.settings()
    day = _day(context)
    db = warehouse.db()
    orders = duck.query(db, "select * from execution.dca_orders where date = ? order by client_order_id", [day])
    next_bars, _ = split_valid_ohlcv(market_data.client().fetch_ohlcv_1d(day + timedelta(days=1), day + timedelta(days=1)))
    filled, status = paper_fills(orders, next_bars, settings.fees.taker, settings.slippage_bps)
    ledger.record_fills(db, day, filled, status)
    return MaterializeResult(
        metadata={
            "fills": len(filled),
            "expired": sum(1 for s in status.values() if s == "expired"),
            "fees_brl": float(to_brl(int(filled["fee_centavos"].sum()))) if len(filled) else 0.0,
            "fills_table": markdown_table(filled.select("symbol", "quantity", "price_brl", "fee_brl")),
        }
    )


@asset(
    group_name=GROUP,
    partitions_def=DAILY,
    deps=[fills, raw_ohlcv_1d],
    io_manager_key="warehouse_io_manager",
    metadata={"schema": "execution", "partition_column": "date"},
    pool="duckdb_warehouse",
    kinds={"polars", "duckdb"},
)
def positions(context: AssetExecutionContext, warehouse: Warehouse) -> pl.DataFrame:
    """Holdings after the day's fills, valued at each symbol's last close on or before the day."""
    day = _day(context)
    held = ledger.holdings(warehouse.db(), day)
    bars = read_daily_window("raw_ohlcv_1d", day, day)
    missing = set(held["symbol"].to_list()) - set(bars["symbol"].to_list() if len(bars) else [])
    if missing:  # only then look back further for the last close
        bars = read_daily_window("raw_ohlcv_1d", day - timedelta(days=PRICE_LOOKBACK_DAYS), day)
    prices = last_prices(bars, day) if not bars.is_empty() else pl.DataFrame(schema={"symbol": pl.String, "close": pl.Float64, "date": pl.Date})
    out = value_positions(day, held, prices)
    context.add_output_metadata(
        {
            "symbols": len(out),
            "market_value_brl": float(sum(out["market_value_brl"].to_list(), 0)) if len(out) else 0.0,
            "stale_prices": int((out["price_date"] < day).sum()) if len(out) else 0,
        }
    )
    return out


@asset_check(asset=dca_orders, partitions_def=DAILY, blocking=True, description="the day's orders never exceed the cash available that day")
def orders_within_budget(context, config: PipelineConfig, warehouse: Warehouse) -> AssetCheckResult:  # noqa: ANN001
    db = warehouse.db()
    day = date.fromisoformat(context.partition_key)
    rows = duck.query(
        db,
        "select date, sum(amount_centavos)::bigint as spent, min(amount_centavos)::bigint as smallest "
        "from execution.dca_orders where date = ? group by date",
        [day],
    )
    min_order = config.settings().min_order_centavos
    bad = []
    for d, spent, smallest in rows.iter_rows():
        available = ledger.cash_balance_centavos(db, d - timedelta(days=1)) + _contribution(db, d)
        if spent > available or smallest < min_order:
            bad.append({"date": str(d), "ordered_centavos": spent, "available_centavos": available, "smallest": smallest})
    return AssetCheckResult(passed=not bad, metadata={"orders_days": len(rows), "violations": markdown_table(pl.DataFrame(bad))})


def _twr_history(db, day: date) -> list[float]:  # noqa: ANN001
    """TWR of every valued day before `day` (for the drawdown circuit breaker)."""
    if not duck.table_exists(db, "monitoring", "portfolio_performance"):
        return []
    rows = duck.query(db, "select twr from monitoring.portfolio_performance where date < ? order by date", [day])
    return [float(x) for x in rows["twr"].to_list()]


def _contribution(db, day: date) -> int:  # noqa: ANN001
    rows = duck.query(db, "select coalesce(sum(amount_centavos), 0)::bigint as c from execution.cash_ledger where date = ? and kind = 'contribution'", [day])
    return int(rows["c"][0])
