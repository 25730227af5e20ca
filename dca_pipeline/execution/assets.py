"""Execution assets: one production day (dca_orders → fills → positions) as one multi-asset over a partition or a
range (single-run backfill), through the day core (execution/day.py) and the event ledger."""

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    BackfillPolicy,
    MaterializeResult,
    Nothing,
    Output,
    asset,
    asset_check,
    multi_asset,
)

from dca_pipeline.config import active_env
from dca_pipeline.governance import audit, overrides
from dca_pipeline.governance.degradation import BuyDecision, send_skip_alert
from dca_pipeline.execution import events as ev
from dca_pipeline.execution import guards, ledger, ledger_views, oms, projection
from dca_pipeline.execution.explain import orders_metadata
from dca_pipeline.execution.day import EXIT_SCHEMA, MARKET_LOOKBACK_DAYS, Controls, DayPlan, DayState, MarketTape, MarketView, month_bounds, plan_day
from dca_pipeline.execution.ledger_protocol import EventLedger
from dca_pipeline.execution import corporate_actions
from dca_pipeline.execution.wiring import StoredIntraday, guard_context, make_broker, paper_account, paper_engine
from dca_pipeline.execution.range_book import RangeBook
from dca_pipeline.execution.reconcile import reconcile
from dca_pipeline.execution.input_checks import prices_for_held_and_targeted  # noqa: F401 - loaded with this module's checks
from dca_pipeline.execution.tca import post_trade_costs
from dca_pipeline.execution.orders import total_ordered_centavos
from dca_pipeline.execution.positions import POSITION_SCHEMA, next_day_performance, position_rows
from dca_pipeline.execution.risk import drawdown_breaker
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.ingestion.corporate_actions import load_corporate_actions
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.metadata import markdown_table, range_metadata
from dca_pipeline.money import to_brl
from dca_pipeline.partitions import DAILY, days_up_to
from dca_pipeline.portfolio.assets import target_weights
from dca_pipeline.execution.resources import Broker
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.raw_store import read_daily_window

GROUP = "execution"
POSITIONS = AssetKey("positions")
DCA_ORDERS = AssetKey("dca_orders")
FILLS = AssetKey("fills")
# a range run writes its in-memory book (execution/range_book.py) at the end of a month once this many seconds have
# passed since its last write, and at its end: a kill loses at most about this much work, which the rerun redoes
# (any write boundary leaves the same tables); a year of days is one write, not twelve
WRITE_EVERY_SECONDS = 10.0
# a day reads the stored bars of the MARKET_LOOKBACK_DAYS before it and itself (MarketTape), and its month's targets
# (the default daily → monthly mapping: the month that holds the day)
RAW_WINDOW = AssetDep(raw_ohlcv_1d, partition_mapping=days_up_to(MARKET_LOOKBACK_DAYS + 1))


def _days(context: AssetExecutionContext) -> list[date]:
    """The run's days: one partition (the scheduled run) or a range (a single-run backfill)."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


@multi_asset(
    outs={
        "dca_orders": AssetOut(group_name=GROUP, dagster_type=Nothing, is_required=False, kinds={"duckdb"}, owners=["team:trading"],
                               metadata={"table": "execution.dca_orders"},
                               description="The day's plan (execution/day.py plan_day): delisting exits, buys, rebalance "
                                           "sells, each decision with its reason (execution.day_decisions)."),
        "fills": AssetOut(group_name=GROUP, dagster_type=Nothing, is_required=False, kinds={"duckdb"}, owners=["team:trading"],
                          metadata={"table": "execution.fills"},
                          description="The day's orders through approval, the pre-send guards and the broker (paper: next "
                                      "day's open + slippage + taker fee; live: Mercado Bitcoin), every change an event."),
        "positions": AssetOut(group_name=GROUP, io_manager_key="warehouse_io_manager", is_required=False,
                              kinds={"polars", "duckdb"}, owners=["team:trading"], metadata={"schema": "execution", "partition_column": "date"},
                              description="Holdings after the day's fills, valued at each symbol's last close on or before the day."),
    },
    deps=[target_weights, RAW_WINDOW],
    internal_asset_deps={"dca_orders": {target_weights.key, raw_ohlcv_1d.key}, "fills": {DCA_ORDERS},
                         "positions": {FILLS, raw_ohlcv_1d.key}},
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),  # a range runs the day loop once, in one process
    can_subset=True,
    pool="duckdb_warehouse",
    group_name=None,
)
def execution_day(context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse, market_data: MarketData,
                  broker: Broker):
    """One production day — or each day of a backfill range, in order: plan (dca_orders), execute (fills), value
    (positions). A range keeps the time-weighted return in step so the drawdown breaker sees every earlier day."""
    settings = config.settings()
    db = warehouse.db()
    days = _days(context)
    selected = context.selected_asset_keys
    if FILLS in selected:
        broker.ensure_allowed()
    _audit_run(context, db, settings)
    bars = split_valid_ohlcv(market_data.client().fetch_ohlcv_1d(days[0], days[-1] + timedelta(days=1)))[0] if FILLS in selected else None
    loop = _DayLoop(db, settings, days[0], set(context.instance.get_materialized_partitions(target_weights.key)), bars)
    tape = MarketTape(read_daily_window("raw_ohlcv_1d", days[0] - timedelta(days=MARKET_LOOKBACK_DAYS), days[-1]))
    recorded = _recorded_days(db, days[0], days[-1])
    book = _range_book(db, settings, broker, selected, [d for d in days if d not in recorded])
    meta: dict[str, list] = {"dca_orders": [], "fills": [], "positions": []}
    positions: list[dict] = []  # every valued day's rows (POSITION_SCHEMA), one frame at the end
    started = last_write = time.monotonic()
    for i, day in enumerate(days):
        as_of = datetime.now(timezone.utc) if settings.source != "replay" else None  # live: judged by the clock
        market = tape.view(day, as_of)
        if book is not None and day not in recorded:  # in memory, written in bulk (execution/range_book.py)
            meta["dca_orders"].append(_book_day(context, book, day, settings, loop, market, tape.has_bars(day)))
            pos = position_rows(day, book.holdings(), market.last())
            cash, contribution = book.cash_centavos(), meta["dca_orders"][-1]["contribution"]
        else:  # one order at a time through the order manager (live, manual approval, a recorded day's rerun)
            _flush(book, meta["fills"])
            if DCA_ORDERS in selected:
                meta["dca_orders"].append(_orders_step(context, db, day, settings, loop, market, tape.has_bars(day),
                                                       project=FILLS not in selected))
            if FILLS in selected:
                meta["fills"].append(_fills_step(db, day, settings, broker, bars, loop))
            pos = _positions_step(db, day, market) if (POSITIONS in selected or len(days) > 1) else None
            cash, contribution = (ledger.cash_balance_centavos(db, day), _contribution(db, day)) if len(days) > 1 else (0, 0)
            if book is not None:
                book.reseed(day + timedelta(days=1))
        if pos is not None:
            positions += pos
            meta["positions"].append(_positions_meta(day, pos))
            if len(days) > 1:
                loop.advance(pos, cash, contribution)
        if day == days[-1] or (day + timedelta(days=1)).day == 1:  # a month done: say where the run is
            if day == days[-1] or time.monotonic() - last_write >= WRITE_EVERY_SECONDS:
                _flush(book, meta["fills"])  # the book's pending days to the warehouse (RangeBook.flush)
                last_write = time.monotonic()
            if len(days) > 1:
                pending = book is not None and bool(book.days)
                context.log.info(f"{day:%Y-%m} done: {i + 1}/{len(days)} days in {time.monotonic() - started:.1f} s"
                                 + ("; kept in memory until the next write" if pending else "; written"))
    if DCA_ORDERS in selected:
        yield Output(None, "dca_orders", metadata=_output_metadata(context, DCA_ORDERS, days, meta["dca_orders"]))
    if FILLS in selected:
        yield Output(None, "fills", metadata=_output_metadata(context, FILLS, days, meta["fills"]))
    if POSITIONS in selected:
        out = pl.DataFrame(positions, schema=POSITION_SCHEMA)
        yield Output(out, "positions", metadata=_output_metadata(context, POSITIONS, days, meta["positions"]))


def _output_metadata(context: AssetExecutionContext, key: AssetKey, days: list[date], rows: list[dict]) -> dict:
    """The output's metadata: all of it for one day; for a range, the range on every partition and the rest — totals,
    tables, charts — on the last one (metadata.range_metadata)."""
    metadata = _summarize(rows)
    if len(days) == 1:
        return metadata
    return range_metadata(context, metadata, days[0], days[-1], asset_key=key)


class _DayLoop:
    """What a range run carries from one day to the next: the TWR history for the breaker (stored days before
    the range, then each valued day of the range, chained by the same `next_day_performance`), the month's
    targets and the bars by day."""

    def __init__(self, db, settings, first: date, targets_materialized: set[str], bars: pl.DataFrame | None = None) -> None:  # noqa: ANN001
        self.db, self.settings, self.targets_materialized = db, settings, targets_materialized
        self.twr = _twr_history(db, first)
        self.prev_value, self.prev_twr = _previous_value(db, first)
        self.bars = {d: g for (d,), g in bars.partition_by("date", as_dict=True).items()} if bars is not None and len(bars) else {}
        self.empty_bars = bars.clear() if bars is not None else None
        self.targets: dict[date, pl.DataFrame] = {}
        self._intraday: StoredIntraday | None = None
        self._actions: pl.DataFrame | None = None

    def intraday(self) -> StoredIntraday:
        """The stored intraday partitions the paper engines read, listed once for the run."""
        if self._intraday is None:
            self._intraday = StoredIntraday()
        return self._intraday

    def actions(self) -> pl.DataFrame:
        """The corporate-actions table, loaded once for the run."""
        if self._actions is None:
            self._actions = load_corporate_actions()
        return self._actions

    def day_bars(self, day: date) -> pl.DataFrame:
        return self.bars.get(day, self.empty_bars)

    def month_targets(self, day: date) -> pl.DataFrame:
        month = day.replace(day=1)
        if month not in self.targets:
            self.targets[month] = _month_targets(self.db, day, self.targets_materialized)
        return self.targets[month]

    def advance(self, positions: list[dict], cash: int, contribution: int) -> None:
        """Chain the day's TWR from its positions (`position_rows`) and cash after the day and the day's contribution."""
        value = cash + int(sum((r["market_value_brl"] for r in positions), 0) * 100) if positions else cash
        perf = next_day_performance(self.prev_value, self.prev_twr, contribution, value, cash, 0)
        self.prev_value, self.prev_twr = value, perf.twr
        self.twr.append(perf.twr)


def _range_book(db, settings, broker: Broker, selected, fresh: list[date]) -> RangeBook | None:  # noqa: ANN001
    """The in-memory book for the run's unrecorded days when they are planned and executed here with the paper
    broker and automatic approval, and the paper exchange holds none of their orders yet; else None."""
    if not fresh or DCA_ORDERS not in selected or FILLS not in selected:
        return None
    if broker.resolved().mode != "paper" or settings.execution.approval != "auto":
        return None
    account = paper_account(db)
    return RangeBook(db, account, fresh[0]) if account.orders_since(fresh[0]) == 0 else None


def _book_day(context: AssetExecutionContext, book: RangeBook, day: date, settings, loop: _DayLoop, market: MarketView,  # noqa: ANN001
              has_bars: bool) -> dict:
    """Plan the day with the day core on the in-memory book, then send its orders through the pre-send guards to
    the paper engine (written at the next flush)."""
    if not has_bars:
        raise FileNotFoundError(f"no stored raw_ohlcv_1d bars for {day}: materialize raw_ohlcv_1d first")
    held = book.holdings()
    targets = loop.month_targets(day)
    held, targets, _ = corporate_actions.apply_day(book, day, held, targets, loop.actions())  # migrations/airdrops first
    first, _ = month_bounds(day)
    controls = _controls(day, targets["symbol"].to_list() + held["symbol"].to_list(), loop.twr, book.spent_between(day, day),
                         book.spent_between(first, day - timedelta(days=1)), book.control)
    state = DayState(held, book.cash_centavos(), book.open_buys, controls, book.book.last_contribution_day())
    plan = plan_day(day, state, market, targets, settings)
    book.record_plan(day, plan)
    engine = paper_engine(settings, loop.day_bars(day + timedelta(days=1)), stored=loop.intraday())
    tripped = drawdown_breaker(loop.twr, settings.risk.max_drawdown_halt).tripped
    book.execute(day, plan.orders, engine, guard_context(book.db, settings, loop.day_bars(day), tripped))
    return _planned(context, day, state, plan)


def _flush(book: RangeBook | None, fills_meta: list[dict]) -> None:
    """Write the book's pending days and add their fills metadata: one row for them all, with `days` — the rows
    the order manager's path gives one per day, concatenated (each frame's rows of those days, stably in day order)."""
    done = book.flush() if book is not None else None
    if done is None:
        return
    days = pl.Series(done.days, dtype=pl.Date)
    st = done.states.filter(pl.col("date").is_in(days)).sort("date", maintain_order=True)
    fills_meta.append({"day": done.days[-1], "days": len(done.days), "states": st,
                       "filled": done.fills.filter(pl.col("date").is_in(days)).sort("date", maintain_order=True),
                       "costs": post_trade_costs(st, done.arrival),
                       "pending": st.filter(pl.col("status") == "pending_approval")["client_order_id"].to_list()})


def _orders_step(context: AssetExecutionContext, db, day: date, settings, loop: _DayLoop, market: MarketView,  # noqa: ANN001
                 has_bars: bool, project: bool = True) -> dict:
    """Plan the day with the day core and record it (exits, contribution, orders; a recorded plan stands)."""
    if _plan_recorded(db, day):  # a recorded plan stands; its exits are recorded again (no-op unless a bulk write was cut short)
        EventLedger(db).record_exits(day, _stored_exits(db, day))
        orders = projection.day_orders(db, day)
        return {"day": day, "orders": orders, "contribution": _contribution(db, day), "rerun": True}
    if not has_bars:
        raise FileNotFoundError(f"no stored raw_ohlcv_1d bars for {day}: materialize raw_ohlcv_1d first")
    held = ledger.holdings(db, day - timedelta(days=1))
    targets = loop.month_targets(day)
    held, targets, _ = corporate_actions.apply_day(EventLedger(db), day, held, targets)  # migrations/airdrops first
    first, _ = month_bounds(day)
    spent_month = ledger_views.spent_centavos(db, first, day - timedelta(days=1)) if day > first else 0
    state = DayState(held, ledger.cash_balance_centavos(db, day - timedelta(days=1)), guards.outstanding_buys_centavos(db),
                     _controls(day, targets["symbol"].to_list() + held["symbol"].to_list(), loop.twr,
                               ledger_views.spent_centavos(db, day, day), spent_month),
                     ledger_views.last_contribution_day(db, day))
    plan = plan_day(day, state, market, targets, settings)
    EventLedger(db).record_exits(day, plan.exits)
    oms.record_plan(db, day, plan.contribution_centavos, plan.orders)
    with duck.transaction(db) as cur:
        duck.replace_rows(cur, "execution", "day_decisions", plan.decisions, "date = ?", [day])
        if len(plan.exits):
            duck.replace_rows(cur, "execution", "delisting_exits", plan.exits, "date = ?", [day])
    if project:  # else the fills step projects the day once, after execution
        projection.project_day(db, day)
    return _planned(context, day, state, plan)


def _planned(context: AssetExecutionContext, day: date, state: DayState, plan: DayPlan) -> dict:
    """Alerts and warnings of a planned day, and its metadata row."""
    carried = state.cash_centavos + plan.contribution_centavos + int((plan.exits["proceeds_centavos"] - plan.exits["fee_centavos"]).sum()) \
        - total_ordered_centavos(plan.orders)
    _alert_stale(plan, day, carried)
    if plan.breaker.tripped:
        context.log.warning(f"{day}: circuit breaker: drawdown {plan.breaker.drawdown:.1%} beyond -{plan.breaker.threshold:.0%}; no orders")
    return {"day": day, "orders": plan.orders, "contribution": plan.contribution_centavos,
            "cash": state.cash_centavos + plan.contribution_centavos, "plan": plan}


def _fills_step(db, day: date, settings, broker: Broker, bars: pl.DataFrame, loop: _DayLoop) -> dict:  # noqa: ANN001
    venue, approval = make_broker(broker, settings, loop.day_bars(day + timedelta(days=1)), db)
    tripped = drawdown_breaker(loop.twr, settings.risk.max_drawdown_halt).tripped
    states = oms.execute_day(db, day, venue, guard_context(db, settings, loop.day_bars(day), tripped), approval)
    projection.project_day(db, day)
    costs = post_trade_costs(states, {o.client_order_id: o.ref_price for o in oms.planned_orders(db, day) if o.ref_price})
    return {"day": day, "states": states, "filled": projection.day_fills(db, day), "costs": costs, "pending": oms.pending_ids(db, day)}


def _positions_step(db, day: date, market: MarketView) -> list[dict]:  # noqa: ANN001
    """Holdings after the day, each at its last close on or before it (a stale one flagged by `price_date`), as
    `position_rows`."""
    return position_rows(day, ledger.holdings(db, day), market.last())


def _positions_meta(day: date, rows: list[dict]) -> dict:
    return {"day": day, "symbols": len(rows),
            "market_value_brl": float(sum((r["market_value_brl"] for r in rows), 0)) if rows else 0.0,
            "stale_prices": sum(r["price_date"] < day for r in rows)}


def _summarize(rows: list[dict]) -> dict:
    """Asset metadata: the day's detail for one partition, totals over a range."""
    if not rows:
        return {}
    if "symbols" in rows[0]:
        last = rows[-1]
        return {"symbols": last["symbols"], "market_value_brl": last["market_value_brl"], "stale_prices": last["stale_prices"], "days": len(rows)}
    if "states" in rows[0]:
        filled = pl.concat([r["filled"] for r in rows])
        costs = pl.concat([r["costs"] for r in rows]) if any(len(r["costs"]) for r in rows) else rows[-1]["costs"]
        states = pl.concat([r["states"] for r in rows])
        counts = dict(states.group_by("status").len().iter_rows()) if len(states) else {}
        return {
            "days": sum(r.get("days", 1) for r in rows),  # a range's flush gives one row for several days
            "fills": len(filled),
            "expired": int(counts.get("expired", 0)),
            "statuses": {k: int(v) for k, v in counts.items()},
            "pending_approval": [i for r in rows for i in r["pending"]],
            "fees_brl": float(to_brl(int(filled["fee_centavos"].sum()))) if len(filled) else 0.0,
            "slippage_brl": float(to_brl(int(costs["slippage_centavos"].sum()))) if len(costs) else 0.0,
            "fills_table": markdown_table(filled.select("symbol", "quantity", "price_brl", "fee_brl")),
            "cost_table": markdown_table(costs.select("symbol", "side", "arrival_price", "avg_price", "slippage_bps", "cost_bps")),
        }
    orders = pl.concat([r["orders"] for r in rows])
    spent = total_ordered_centavos(orders)
    plans = [r["plan"] for r in rows if "plan" in r]
    decisions = pl.concat([p.decisions for p in plans]) if plans else pl.DataFrame()
    tripped = any(p.breaker.tripped for p in plans)
    out = {
        "days": len(rows),
        "orders": len(orders),
        "contribution_brl": float(to_brl(sum(r["contribution"] for r in rows))),
        "ordered_brl": float(to_brl(spent)),
        "circuit_breaker": "tripped" if tripped else "ok",
        "drawdown": plans[-1].breaker.drawdown if plans else 0.0,
        "delisting_exits": sum(len(p.exits) for p in plans),
        "orders_table": markdown_table(orders.select("date", "symbol", "side", "amount_brl", "deficit_brl", "status")),
        **orders_metadata(orders, decisions),  # every order and skip with its reason, and a chart (execution/explain.py)
    }
    if len(rows) == 1 and "cash" in rows[0]:
        out["cash_available_brl"] = float(to_brl(rows[0]["cash"]))
        out["carried_forward_brl"] = float(to_brl(rows[0]["cash"] - spent))
    return out


@asset_check(asset=DCA_ORDERS, partitions_def=DAILY, description="the day's orders never exceed the cash available that day "
             "(true by construction: plan_dca_orders caps at the cash and the pre-send guard re-checks it; a warning, not a gate)")
def orders_within_budget(context, config: PipelineConfig, warehouse: Warehouse) -> AssetCheckResult:  # noqa: ANN001
    db = warehouse.db()
    days = _days(context)
    rows = duck.query(
        db,
        "select date, sum(amount_centavos)::bigint as spent, min(amount_centavos)::bigint as smallest "
        "from execution.dca_orders where date between ? and ? and side = 'buy' group by date order by date",
        [days[0], days[-1]],
    )
    min_order = config.settings().min_order_centavos
    bad = []
    for d, spent, smallest in rows.iter_rows():
        available = ledger.cash_balance_centavos(db, d - timedelta(days=1)) + _contribution(db, d) + _exit_proceeds(db, d)
        if spent > available or smallest < min_order:
            bad.append({"date": str(d), "ordered_centavos": spent, "available_centavos": available, "smallest": smallest})
    return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.WARN,
                            metadata={"orders_days": len(rows), "violations": markdown_table(pl.DataFrame(bad))})


def _plan_recorded(db, day: date) -> bool:  # noqa: ANN001
    """Whether the day's plan is already in the event ledger (its contribution is the plan's first event)."""
    if not ev.exists(db):
        return False
    return bool(duck.query(db, "select count(*) as n from execution.events where event_id = ?", [f"contribution:{day:%Y%m%d}"])["n"][0])


def _month_targets(db, day: date, materialized: set[str]) -> pl.DataFrame:  # noqa: ANN001
    """The month's stored targets (empty when the month holds everything in cash); a month never materialized
    is an error."""
    month = day.replace(day=1)
    if month.isoformat() not in materialized:
        raise FileNotFoundError(f"target_weights for {month:%Y-%m} was never materialized: run that monthly partition first")
    if not duck.table_exists(db, "portfolio", "target_weights"):
        return pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64})
    return duck.query(db, "select symbol, weight from portfolio.target_weights where month = ? order by symbol", [month])


def _controls(day: date, symbols: list[str], twr: list[float], spent_today: int, spent_month: int,
              control: Path | None = None) -> Controls:
    """Kill switch, freezes (re-read now), what the day and the month before it already spent, and the TWR history
    (`control`: the control folder, when the run has found it)."""
    control = control or overrides.control_dir()
    kill = overrides.kill_switch_state(control=control)
    frozen = overrides.freeze_reasons(sorted(set(symbols)), control=control) if kill is None else {}
    return Controls(kill_switch=(kill.get("reason") or "(no reason given)") if kill is not None else None,
                    frozen={s: r.split(": ", 1)[-1] for s, r in frozen.items()},
                    spent_today_centavos=spent_today, spent_month_centavos=spent_month, twr_history=tuple(twr))


def _recorded_days(db, first: date, last: date) -> set[date]:  # noqa: ANN001
    """Days of first..last whose plan is in the event ledger (one read for the run)."""
    if not ev.exists(db):
        return set()
    rows = duck.query(db, "select date from execution.events where kind = 'contribution' and date between ? and ?", [first, last])
    return set(rows["date"].to_list())


def _stored_exits(db, day: date) -> pl.DataFrame:  # noqa: ANN001
    if not duck.table_exists(db, "execution", "delisting_exits"):
        return pl.DataFrame(schema=EXIT_SCHEMA)
    return duck.query(db, "select * from execution.delisting_exits where date = ? order by client_order_id", [day])


def _alert_stale(plan: DayPlan, day: date, carried_centavos: int) -> None:
    """Graceful degradation: a WARNING alert naming the coins skipped on stale prices (their cash carried forward)."""
    if not any(r is not None and r.startswith("stale price") for r in plan.decisions["reason"].to_list()):
        return  # the common case, without a filter query
    stale = plan.decisions.filter(pl.col("reason").str.starts_with("stale price"))
    symbols = tuple(stale["symbol"].to_list())
    decision = BuyDecision(False, f"stale prices for {len(symbols)} target(s): {', '.join(symbols)}", symbols,
                           carry_forward_centavos=carried_centavos)
    send_skip_alert(decision, day.isoformat())


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


def _previous_value(db, day: date) -> tuple[int, float]:  # noqa: ANN001
    """(value in centavos, TWR) of the day before `day` as stored by portfolio_performance; (0, 0) before any."""
    if duck.table_exists(db, "monitoring", "portfolio_performance"):
        prev = duck.query(db, "select value_brl, twr from monitoring.portfolio_performance where date = ?", [day - timedelta(days=1)])
        if len(prev):
            return int(prev["value_brl"][0] * 100), float(prev["twr"][0])
    return 0, 0.0


def _exit_proceeds(db, day: date) -> int:  # noqa: ANN001
    """Cash the day's delisting exits brought in (proceeds − fees)."""
    if not duck.table_exists(db, "execution", "delisting_exits"):
        return 0
    rows = duck.query(db, "select coalesce(sum(proceeds_centavos - fee_centavos), 0)::bigint as c from execution.delisting_exits where date = ?", [day])
    return int(rows["c"][0])


def _contribution(db, day: date) -> int:  # noqa: ANN001
    """The day's contribution as the event ledger records it (its projection, execution.cash_ledger, is written in
    a range run's last bulk transaction: a run cut short before it leaves recorded days not projected yet)."""
    if ev.exists(db):
        sql = "select coalesce(sum(amount_centavos), 0)::bigint as c from execution.events where date = ? and kind = 'contribution'"
    elif duck.table_exists(db, "execution", "cash_ledger"):
        sql = "select coalesce(sum(amount_centavos), 0)::bigint as c from execution.cash_ledger where date = ? and kind = 'contribution'"
    else:
        return 0
    return int(duck.query(db, sql, [day])["c"][0])


@asset(group_name=GROUP, partitions_def=DAILY, deps=[FILLS], pool="exchange_api", kinds={"duckdb"}, owners=["team:trading"])
def reconciliation(context: AssetExecutionContext, config: PipelineConfig, warehouse: Warehouse, broker: Broker) -> MaterializeResult:
    """The event ledger's positions, cash and open orders against the broker's own account view
    (live: Mercado Bitcoin balances and open orders, or per venue with `execution.venues`; paper: the fills and cash
    tables the broker's fills produced)."""
    diffs = reconciliation_diffs(warehouse.db(), broker, config.settings())
    return MaterializeResult(metadata=_reconciliation_metadata(diffs))


@asset_check(asset=reconciliation, partitions_def=DAILY, blocking=True,
             description="ledger positions, cash and open orders equal the broker's (per venue when routing)")
def ledger_matches_broker(context, config: PipelineConfig, warehouse: Warehouse, broker: Broker) -> AssetCheckResult:  # noqa: ANN001
    diffs = reconciliation_diffs(warehouse.db(), broker, config.settings())
    return AssetCheckResult(passed=diffs.is_empty(), metadata=_reconciliation_metadata(diffs))


def _reconciliation_metadata(diffs: pl.DataFrame) -> dict:
    meta = {"differences": len(diffs), "differences_table": markdown_table(diffs)}
    if "venue" in diffs.columns:  # routed: which venues disagree
        meta["venues_with_differences"] = ", ".join(sorted(set(diffs["venue"].to_list()))) or "none"
    return meta


def reconciliation_diffs(db, broker: Broker, settings) -> pl.DataFrame:  # noqa: ANN001
    """The reconciliation's differences (reconcile.DIFF_SCHEMA; empty = reconciled). Live with `execution.venues`:
    per venue (`routing.reconcile_router`: each venue's balances against the ledger's fills recorded on it, and
    its open orders), with a `venue` column naming where a difference is; otherwise one account."""
    from dca_pipeline.execution.live_broker import live_trading_enabled, routed_broker
    from dca_pipeline.execution.reconcile import ledger_side
    from dca_pipeline.execution.routing import reconcile_router

    if live_trading_enabled(broker.mode) and settings.execution.venues:
        _positions, _cash, ledger_open = ledger_side(db)
        return reconcile_router(db, routed_broker(settings, broker.api_url or None), ledger_open=ledger_open)
    ledger, theirs = reconciliation_views(db, broker, settings)
    return reconcile(*ledger, *theirs, check_cash=broker.mode != "live")


def reconciliation_views(db, broker: Broker, settings) -> tuple[tuple, tuple]:  # noqa: ANN001
    """((positions, cash, open ids) from the events, (balances, open ids) from the broker's own account: one
    account — the paper exchange's or Mercado Bitcoin's; with routing see `reconciliation_diffs`)."""
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
