"""Execution assets: the day's DCA orders, their paper fills and the resulting positions, via the ledger."""

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    asset,
    asset_check,
)

from dca_pipeline.config import cached_settings
from dca_pipeline.governance import audit
from dca_pipeline.governance.degradation import daily_buy_decision
from dca_pipeline.governance.environments import active_env
from dca_pipeline.execution import ledger, oms, projection
from dca_pipeline.execution.wiring import guard_context, make_broker
from dca_pipeline.execution.reconcile import reconcile
from dca_pipeline.execution.input_checks import prices_for_held_and_targeted  # noqa: F401 - loaded with this module's checks
from dca_pipeline.execution.tca import post_trade_costs
from dca_pipeline.execution.orders import plan_dca_orders, plan_rebalance_sells, total_ordered_centavos
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
    _audit_run(context, db, settings)
    contribution = daily_contribution_centavos(settings.budget_centavos, day)
    cash = ledger.cash_balance_centavos(db, day - timedelta(days=1)) + contribution
    breaker = drawdown_breaker(_twr_history(db, day), settings.risk.max_drawdown_halt)
    targets = target_weights.filter(pl.col("weight") > 0)
    held = ledger.holdings(db, day - timedelta(days=1))
    prices = raw_ohlcv_1d.filter(pl.col("date") == day).select("symbol", "close")
    orders = plan_dca_orders(day, targets, held, prices, cash, settings.min_order_centavos)
    if settings.portfolio.rebalance.allow_sells:  # off by default: DCA rebalances with new cash only
        sells, why = plan_rebalance_sells(
            day, targets, held, prices, cash, settings.budget_centavos, settings.portfolio.rebalance.drift_threshold,
            settings.min_order_centavos,
        )
        context.log.info(f"rebalance: {why}; {len(sells)} sell order(s)")
        orders = pl.concat([orders, sells], how="diagonal_relaxed") if len(sells) else orders
    if breaker.tripped:
        context.log.warning(f"circuit breaker: drawdown {breaker.drawdown:.1%} beyond -{breaker.threshold:.0%}; no orders")
        orders = orders.clear()
    if settings.flags.skip_buy_on_stale_prices and len(orders):  # graceful degradation: never buy on stale prices
        decision = daily_buy_decision(day, orders["symbol"].to_list(), settings.source != "replay", cash,
                                      settings.flags.max_price_age_hours)
        if not decision.buy:
            context.log.warning(f"buy skipped, budget carried forward: {decision.reason}")
            orders = orders.clear()
    new_events = oms.record_plan(db, day, contribution, orders)  # a rerun adds nothing: the recorded plan stands
    projection.project_day(db, day)
    orders = projection.day_orders(db, day)
    spent = total_ordered_centavos(orders)
    return MaterializeResult(
        metadata={
            "orders": len(orders),
            "contribution_brl": float(to_brl(contribution)),
            "cash_available_brl": float(to_brl(cash)),
            "ordered_brl": float(to_brl(spent)),
            "carried_forward_brl": float(to_brl(cash - spent)),
            "circuit_breaker": "tripped" if breaker.tripped else "ok",
            "new_events": new_events,
            "drawdown": breaker.drawdown,
            "orders_table": markdown_table(orders.select("symbol", "amount_brl", "deficit_brl", "status")),
        }
    )


@asset(group_name=GROUP, partitions_def=DAILY, deps=[dca_orders], pool="exchange_api", kinds={"duckdb"},
       metadata={"table": "execution.fills"})
def fills(
    context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse, market_data: MarketData, broker: Broker
) -> MaterializeResult:
    """Move the day's orders through approval, the pre-send guards and the broker (paper: next day's open +
    slippage + taker fee; live: Mercado Bitcoin), recording every state change as an event."""
    broker.ensure_allowed()
    settings = config.settings()
    day = _day(context)
    db = warehouse.db()
    _audit_run(context, db, settings)
    bars, _ = split_valid_ohlcv(market_data.client().fetch_ohlcv_1d(day, day + timedelta(days=1)))
    venue, approval = make_broker(broker, settings, bars.filter(pl.col("date") == day + timedelta(days=1)), db)
    guard_ctx = guard_context(db, settings, bars.filter(pl.col("date") == day), drawdown_breaker(_twr_history(db, day), settings.risk.max_drawdown_halt).tripped)
    states = oms.execute_day(db, day, venue, guard_ctx, approval)
    projection.project_day(db, day)
    filled = projection.day_fills(db, day)
    costs = post_trade_costs(states, {o.client_order_id: o.ref_price for o in oms.planned_orders(db, day) if o.ref_price})
    counts = dict(states.group_by("status").len().iter_rows()) if len(states) else {}
    return MaterializeResult(
        metadata={
            "fills": len(filled),
            "expired": int(counts.get("expired", 0)),
            "statuses": {k: int(v) for k, v in counts.items()},
            "pending_approval": oms.pending_ids(db, day),
            "fees_brl": float(to_brl(int(filled["fee_centavos"].sum()))) if len(filled) else 0.0,
            "slippage_brl": float(to_brl(int(costs["slippage_centavos"].sum()))) if len(costs) else 0.0,
            "fills_table": markdown_table(filled.select("symbol", "quantity", "price_brl", "fee_brl")),
            "cost_table": markdown_table(costs.select("symbol", "side", "arrival_price", "avg_price", "slippage_bps", "cost_bps")),
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


@asset_check(asset=dca_orders, partitions_def=DAILY, description="the day's orders never exceed the cash available that day "
             "(true by construction: plan_dca_orders caps at the cash and the pre-send guard re-checks it; a warning, not a gate)")
def orders_within_budget(context, config: PipelineConfig, warehouse: Warehouse) -> AssetCheckResult:  # noqa: ANN001
    db = warehouse.db()
    day = date.fromisoformat(context.partition_key)
    rows = duck.query(
        db,
        "select date, sum(amount_centavos)::bigint as spent, min(amount_centavos)::bigint as smallest "
        "from execution.dca_orders where date = ? and side = 'buy' group by date",
        [day],
    )
    min_order = config.settings().min_order_centavos
    bad = []
    for d, spent, smallest in rows.iter_rows():
        available = ledger.cash_balance_centavos(db, d - timedelta(days=1)) + _contribution(db, d)
        if spent > available or smallest < min_order:
            bad.append({"date": str(d), "ordered_centavos": spent, "available_centavos": available, "smallest": smallest})
    return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.WARN,
                            metadata={"orders_days": len(rows), "violations": markdown_table(pl.DataFrame(bad))})


def _audit_run(context: AssetExecutionContext, db, settings) -> None:  # noqa: ANN001
    """Order entries in the audit log name this run and who started it; a changed config is audited first."""
    actor = audit.actor_from_tags(context.run.tags)
    audit.set_actor(actor, context.run_id)
    if settings.governance.audit_config_changes:
        audit.record_config_if_changed(db, settings, env=active_env(), actor=actor, run_id=context.run_id)


def _twr_history(db, day: date) -> list[float]:  # noqa: ANN001
    """TWR of every valued day before `day` (for the drawdown circuit breaker)."""
    if not duck.table_exists(db, "monitoring", "portfolio_performance"):
        return []
    rows = duck.query(db, "select twr from monitoring.portfolio_performance where date < ? order by date", [day])
    return [float(x) for x in rows["twr"].to_list()]


def _contribution(db, day: date) -> int:  # noqa: ANN001
    rows = duck.query(db, "select coalesce(sum(amount_centavos), 0)::bigint as c from execution.cash_ledger where date = ? and kind = 'contribution'", [day])
    return int(rows["c"][0])


@asset(group_name=GROUP, partitions_def=DAILY, deps=[fills], pool="exchange_api", kinds={"duckdb"})
def reconciliation(context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse, broker: Broker) -> MaterializeResult:
    """The event ledger's positions, cash and open orders against the broker's own account view
    (live: Mercado Bitcoin balances and open orders; paper: the fills and cash tables the broker's fills produced)."""
    db = warehouse.db()
    ledger_side, broker_side = reconciliation_views(db, broker, config.settings())
    diffs = reconcile(*ledger_side, *broker_side, check_cash=broker.mode != "live")
    return MaterializeResult(metadata={"differences": len(diffs), "differences_table": markdown_table(diffs)})


@asset_check(asset=reconciliation, partitions_def=DAILY, blocking=True, description="ledger positions, cash and open orders equal the broker's")
def ledger_matches_broker(context, config: PipelineConfig, warehouse: Warehouse, broker: Broker) -> AssetCheckResult:  # noqa: ANN001
    db = warehouse.db()
    ledger_side, broker_side = reconciliation_views(db, broker, config.settings())
    diffs = reconcile(*ledger_side, *broker_side, check_cash=broker.mode != "live")
    return AssetCheckResult(passed=diffs.is_empty(), metadata={"differences": len(diffs), "differences_table": markdown_table(diffs)})


def reconciliation_views(db, broker: Broker, settings) -> tuple[tuple, tuple]:  # noqa: ANN001
    """((positions, cash, open ids) from the events, (balances, open ids) from the broker's own account)."""
    from dca_pipeline.execution.live_broker import exchange_from_env, live_trading_enabled
    from dca_pipeline.execution.reconcile import ledger_side, paper_broker_side
    from dca_pipeline.execution.wiring import paper_account

    mine = ledger_side(db)
    if live_trading_enabled(broker.mode):
        ex = exchange_from_env(broker.api_url or None)
        bal = ex.fetch_balance()
        balances = {k: Decimal(str(v)) for k, v in bal["total"].items() if v is not None}
        theirs_open = {o["clientOrderId"] for o in ex.fetch_open_orders() if o.get("clientOrderId")}
        return mine, (balances, theirs_open)
    return mine, paper_broker_side(db, paper_account(db))
