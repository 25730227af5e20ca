"""One production day as one pure function: `plan_day`.

The scheduled run (`dca_orders`), a backfill over a range and the backtester all call it; it decides the
day's delisting exits, buys and rebalance sells and gives the reason for every decision:

1. contribution: the day's slice of the monthly budget joins the cash, with the slices of the days since the last
   credited one that were never credited (a blocked day's budget is not lost; money.owed_contribution_centavos);
2. delisting: a held coin whose last bar is more than `delisting.after_days` before the day is exited at its
   last close less the taker fee (`last_price`) or at zero (`write_off`);
3. stale prices: a target whose last price closed more than `flags.max_price_age_hours` before `as_of` is
   skipped (its cash is carried forward);
4. buys: the most underweight targets first, at least the minimum order, with the cash the spend caps still
   allow (orders.plan_buys);
5. rebalance sells: `portfolio.rebalance.allow_sells` on the month's first day (orders.plan_rebalance_sells);
6. drawdown breaker: no orders while the time-weighted drawdown is beyond `risk.max_drawdown_halt`;
7. pre-send guards (guards.check_order: kill switch, freezes, daily/monthly spend caps, cash, liquidity and
   position limits), in the order the order manager sends them (client order id), against the running plan.

Regime scaling acts on the month's targets (portfolio/targets.py), which both paths build with the same call.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.config import Settings
from dca_pipeline.execution.intraday_fill import ExecutionParams, execute_orders
from dca_pipeline.execution.guards import GuardContext, GuardFacts, OrderIntent, check_order
from dca_pipeline.execution.orders import ORDER_SCHEMA, client_order_id, plan_buys, plan_rebalance_sells
from dca_pipeline.execution.ledger_protocol import Ledger
from dca_pipeline.execution.corporate_actions import apply_day as apply_corporate_actions
from dca_pipeline.execution.risk import BreakerDecision, drawdown_breaker
from dca_pipeline.execution.wiring import guard_context, guard_context_of_rows, spend_caps_centavos
from dca_pipeline.governance.degradation import bar_close_time, stale_prices
from dca_pipeline.money import fee_centavos, owed_contribution_centavos

PLAN_ORDER_SCHEMA = {**ORDER_SCHEMA, "quantity": pl.Decimal(38, 8)}
DECISION_SCHEMA = {"date": pl.Date, "symbol": pl.String, "side": pl.String, "decision": pl.String,
                   "amount_centavos": pl.Int64, "reason": pl.String}
EXIT_SCHEMA = {"date": pl.Date, "client_order_id": pl.String, "symbol": pl.String, "quantity": pl.Decimal(38, 8),
               "price_brl": pl.Float64, "last_close_brl": pl.Float64, "price_date": pl.Date, "policy": pl.String,
               "proceeds_centavos": pl.Int64, "fee_centavos": pl.Int64, "cost_centavos": pl.Int64, "reason": pl.String}
MARKET_SCHEMA = {"symbol": pl.String, "date": pl.Date, "close": pl.Float64, "volume": pl.Float64}
# empty frames of the day's usual "nothing" results: `.clear()` returns a fresh copy in ≈1 µs, the same frame
# pl.DataFrame(schema=...) builds in ≈100-300 µs (mostly parsing the schema)
_NO_EXITS = pl.DataFrame(schema=EXIT_SCHEMA)
_NO_ORDERS = pl.DataFrame(schema=PLAN_ORDER_SCHEMA)
MARKET_LOOKBACK_DAYS = 400  # a coin's last bar is seen this long (held ones are exited long before, see delisting)


@dataclass(frozen=True)
class Controls:
    """Governance and risk state: kill switch (its reason when on), frozen symbols (symbol → reason), what the
    day and the month already spent on buys that reached the venue, and every valued day's TWR so far."""

    kill_switch: str | None = None
    frozen: dict[str, str] = field(default_factory=dict)
    spent_today_centavos: int = 0
    spent_month_centavos: int = 0
    twr_history: tuple[float, ...] = ()


@dataclass(frozen=True)
class DayState:
    """The book before the day: open positions (symbol, quantity, cost_centavos), cash after the previous day,
    cash still held by sent, unfinished buys, the controls, and the last day a contribution was credited (None:
    none ever was)."""

    holdings: pl.DataFrame
    cash_centavos: int
    open_buys_centavos: int = 0
    controls: Controls = Controls()
    last_contribution_day: date | None = None


@dataclass(frozen=True)
class MarketView:
    """Each symbol's last bar on or before the day (symbol, date = the price's date, close, volume); `as_of`
    is when freshness is judged (the live clock, or the day's close for a replay, a backfill and the backtest).

    `last()`: the same bars as a dict symbol → (date, close, volume), built once per view (given by
    `MarketTape.view`, else read from `bars`; a symbol's last row wins; volume None without a volume column), for
    the day core's per-symbol lookups."""

    bars: pl.DataFrame
    as_of: datetime | None = None
    by_symbol: dict[str, tuple[date, float, float | None]] | None = field(default=None, compare=False, repr=False)

    def last(self) -> dict[str, tuple[date, float, float | None]]:
        if self.by_symbol is None:
            b = self.bars
            volume = b["volume"].to_list() if "volume" in b.columns else [None] * len(b)
            object.__setattr__(self, "by_symbol", dict(zip(b["symbol"].to_list(), zip(b["date"].to_list(), b["close"].to_list(), volume))))
        return self.by_symbol  # type: ignore[return-value]


@dataclass(frozen=True)
class DayPlan:
    day: date
    contribution_centavos: int
    exits: pl.DataFrame  # EXIT_SCHEMA: delisting exits, applied to the book before the orders
    orders: pl.DataFrame  # PLAN_ORDER_SCHEMA: the orders to send, in send order
    decisions: pl.DataFrame  # DECISION_SCHEMA: one row per exit, order and skipped target, with its reason
    breaker: BreakerDecision
    guard_context: GuardContext


class MarketTape:
    """Daily bars walked forward in time: `view(day)` is each symbol's last bar on or before `day` within
    MARKET_LOOKBACK_DAYS — what the backtest and a (backfill) run of the execution assets both plan and value
    with. Days must be asked in increasing order."""

    def __init__(self, bars: pl.DataFrame) -> None:
        has_volume = "volume" in bars.columns
        cols = ["date", "symbol", "close", "volume"] if has_volume else ["date", "symbol", "close"]
        self.by_day: dict[date, list[tuple]] = {}  # date -> its rows (symbol, close[, volume]) in the frame's order
        for d, *row in bars.select(cols).iter_rows() if len(bars) else ():  # one pass (a partition_by per day is slower)
            self.by_day.setdefault(d, []).append(tuple(row))
        self.dates = sorted(self.by_day)
        self.i = 0
        self.last: dict[str, tuple] = {}  # symbol -> (date, close, volume)
        self.has_volume = has_volume

    def has_bars(self, day: date) -> bool:
        return day in self.by_day

    def view(self, day: date, as_of: datetime | None = None) -> MarketView:
        while self.i < len(self.dates) and self.dates[self.i] <= day:
            d = self.dates[self.i]
            for row in self.by_day[d]:
                self.last[row[0]] = (d, row[1], row[2] if self.has_volume else None)
            self.i += 1
        oldest = day - timedelta(days=MARKET_LOOKBACK_DAYS)
        seen = {s: x for s, x in sorted(self.last.items()) if x[0] >= oldest}
        columns = zip(*((s, *x) for s, x in seen.items())) if seen else [()] * len(MARKET_SCHEMA)
        # built column by column (the frame pl.DataFrame(rows, schema=MARKET_SCHEMA, orient="row") gives, faster)
        bars = pl.DataFrame([pl.Series(name, list(values), dtype, strict=False) for (name, dtype), values in zip(MARKET_SCHEMA.items(), columns)])
        return MarketView(bars, as_of, seen)


def value_centavos(quantity: Decimal, price: float) -> int:
    """quantity × price in centavos, half-even (the positions asset's market value)."""
    return int((Decimal(quantity) * Decimal(repr(price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def delisting_exits(day: date, holdings: pl.DataFrame, market: MarketView, settings: Settings) -> pl.DataFrame:
    """Every held coin whose last bar is more than `delisting.after_days` before `day`, exited by the policy."""
    policy, after = settings.delisting.policy, settings.delisting.after_days
    if holdings.is_empty():
        return _NO_EXITS.clear()
    last = market.last()
    rows = []
    for symbol, quantity, cost in holdings[["symbol", "quantity", "cost_centavos"]].iter_rows():  # [cols]: eager, no query
        if not quantity:
            continue
        if symbol not in last:
            raise ValueError(f"no price on or before {day} for held symbol {symbol}: widen the market view's window")
        price_date, close = last[symbol][:2]
        if (day - price_date).days <= after:
            continue
        price = close if policy == "last_price" else 0.0
        proceeds = value_centavos(quantity, price)
        fee = fee_centavos(proceeds, settings.fees.taker)
        rows.append({"date": day, "client_order_id": client_order_id(day, symbol, "exit"), "symbol": symbol,
                     "quantity": Decimal(quantity), "price_brl": price, "last_close_brl": close, "price_date": price_date,
                     "policy": policy, "proceeds_centavos": proceeds, "fee_centavos": fee, "cost_centavos": int(cost),
                     "reason": f"delisting: no bar since {price_date} ({(day - price_date).days} days > {after}); {policy}"})
    return pl.DataFrame(rows, schema=EXIT_SCHEMA) if rows else _NO_EXITS.clear()


def plan_day(day: date, state: DayState, market: MarketView, targets: pl.DataFrame, settings: Settings) -> DayPlan:
    """The day's delisting exits, orders and decision table (see the module docstring for the order of steps).

    targets: symbol, weight (the month's targets); market: `market_view`; state: the book before the day."""
    decisions: list[dict] = []
    contribution, credited = owed_contribution_centavos(settings.budget_centavos, day, state.last_contribution_day)
    cash = state.cash_centavos + contribution
    if len(credited) > 1:
        missed = [d for d in credited if d != day]
        decisions.append(_decision(day, "", "contribution", "credited", contribution,
                                   f"contribution of {len(credited)} days: this day's slice and {len(missed)} uncredited "
                                   f"(blocked or not run): {', '.join(map(str, missed))}"))

    exits = delisting_exits(day, state.holdings, market, settings)
    gone = set(exits["symbol"].to_list())
    for x in exits.iter_rows(named=True):
        cash += x["proceeds_centavos"] - x["fee_centavos"]
        decisions.append(_decision(day, x["symbol"], "sell", "exit", x["proceeds_centavos"], x["reason"]))
    holdings = state.holdings
    if gone or not all(q is not None and q != 0 for q in holdings["quantity"].to_list()):  # else the filter keeps every row
        holdings = holdings.filter(~pl.col("symbol").is_in(list(gone)) & (pl.col("quantity") != 0))

    bars = market.bars
    as_of = market.as_of or bar_close_time(day)
    if not all(w is not None and w > 0 for w in targets["weight"].to_list()):  # else the filter keeps every row
        targets = targets.filter(pl.col("weight") > 0)
    stale: dict[str, str] = {}
    if settings.flags.skip_buy_on_stale_prices:
        last = market.last()
        stale = stale_prices({s: bar_close_time(last[s][0]) if s in last else None for s in targets["symbol"].to_list()},
                             as_of, timedelta(hours=settings.flags.max_price_age_hours))
    priced = set(market.last())
    for s in targets["symbol"].to_list():
        if s in stale:
            decisions.append(_decision(day, s, "buy", "skipped", None, f"stale price: {stale[s]}"))
        elif s not in priced:
            decisions.append(_decision(day, s, "buy", "skipped", None, "no price"))
    fresh = priced - set(stale)
    daily_cap, monthly_cap = spend_caps_centavos(settings)
    c = state.controls
    spendable = min(cash - state.open_buys_centavos, daily_cap - c.spent_today_centavos,
                    monthly_cap - c.spent_month_centavos)  # the caps shape the plan; the guards still check it
    orders, skipped = plan_buys(day, targets, holdings, bars, cash, settings.min_order_centavos, buyable=fresh,
                                spend_limit_centavos=spendable)
    decisions += [_decision(day, s, "buy", "skipped", None, why) for s, why in sorted(skipped.items())]
    orders = orders.with_columns(pl.lit(None, pl.Decimal(38, 8)).alias("quantity")) if len(orders) else _NO_ORDERS.clear()
    if settings.portfolio.rebalance.allow_sells:  # off by default: DCA rebalances with new cash only
        sells, sell_why = plan_rebalance_sells(day, targets, holdings, bars.select("symbol", "close").filter(pl.col("symbol").is_in(list(fresh))), cash,
                                          settings.budget_centavos, settings.portfolio.rebalance.drift_threshold,
                                          settings.min_order_centavos)
        orders = pl.concat([orders, sells], how="diagonal_relaxed") if len(sells) else orders
        if not len(sells) and day.day == 1:
            decisions.append(_decision(day, "", "sell", "none", None, f"rebalance: {sell_why}"))

    breaker = drawdown_breaker(state.controls.twr_history, settings.risk.max_drawdown_halt)
    last = market.last()
    if "volume" in bars.columns and len(last) == len(bars):  # one row per symbol: the day's rows straight from the view
        ctx = guard_context_of_rows(None, settings, [(s, c, v) for s, (d, c, v) in last.items() if d == day], breaker.tripped)
    else:
        ctx = guard_context(None, settings, bars.filter(pl.col("date") == day), breaker.tripped)
    ids = orders["client_order_id"].to_list()
    if any(a is None or b is None or a >= b for a, b in zip(ids, ids[1:])):  # else already in send order
        orders = orders.sort("client_order_id")
    if breaker.tripped:
        why = f"drawdown breaker: {breaker.drawdown:.1%} beyond -{breaker.threshold:.0%}"
        decisions += [_decision(day, o["symbol"], o["side"], "skipped", o["amount_centavos"], why) for o in orders.iter_rows(named=True)]
        orders = orders.clear()
    kept = _guarded(day, orders, state, holdings, cash, ctx, decisions)
    if len(kept) < len(orders):  # one id kept per order that passed: all kept, nothing to drop
        orders = orders.filter(pl.col("client_order_id").is_in(kept))
    why_sell = f"rebalance: {sell_why}" if settings.portfolio.rebalance.allow_sells else ""
    for o in orders.iter_rows(named=True):
        reason = why_sell if o["side"] == "sell" else f"underweight by R${o['deficit_brl']:.2f} (target {o['target_weight']:.4f})"
        decisions.append(_decision(day, o["symbol"], o["side"], o["side"], o["amount_centavos"], reason))
    if orders.columns != list(PLAN_ORDER_SCHEMA) or orders.dtypes != list(PLAN_ORDER_SCHEMA.values()):
        orders = orders.select(list(PLAN_ORDER_SCHEMA)).cast(PLAN_ORDER_SCHEMA)  # type: ignore[arg-type]
    return DayPlan(day, contribution, exits, orders, pl.DataFrame(decisions, schema=DECISION_SCHEMA), breaker, ctx)


def simulate_day(day: date, book: Ledger, market: MarketView, next_open: pl.DataFrame, targets: pl.DataFrame,
                 settings: Settings, controls: Controls = Controls(), hourly: pl.DataFrame | None = None,
                 ) -> tuple[DayPlan, pl.DataFrame, dict[str, str]]:
    """`plan_day` on `book`'s state, then the contribution, the exits and the paper fills booked on it — the order
    manager's paper path without the broker round trip. `next_open`: the next day's bars (symbol, open; with high,
    low, close for `execution.model` twap / maker_first), `hourly`: stored hourly bars if any (intraday_fill
    derives the rest). Returns (plan, fills, status)."""
    holdings, targets, _ = apply_corporate_actions(book, day, book.holdings(), targets)  # migrations/airdrops first
    plan = plan_day(day, DayState(holdings, book.cash_centavos(), 0, controls, book.last_contribution_day()), market, targets,
                    settings)
    book.contribute(day, plan.contribution_centavos)
    book.record_exits(day, plan.exits)
    fills, status = execute_orders(plan.orders, next_open, ExecutionParams.from_settings(settings), hourly)
    book.record_fills(day, fills)
    return plan, fills, status


def book_value_centavos(book: Ledger, market: MarketView) -> int:
    """Cash plus every open position at its last close (half-even centavos, as the positions asset)."""
    holdings = book.holdings()
    last = market.last()
    return book.cash_centavos() + sum(value_centavos(q, last[s][1]) for s, q, _ in holdings.iter_rows())


def _guarded(day: date, orders: pl.DataFrame, state: DayState, holdings: pl.DataFrame, cash: int, ctx: GuardContext,
             decisions: list[dict]) -> list[str]:
    """Client ids of the orders that pass the pre-send checks, each judged after the ones sent before it."""
    c = state.controls
    held = {s: Decimal(q) for s, q in zip(holdings["symbol"].to_list(), holdings["quantity"].to_list())}
    spent_day, spent_month, available = c.spent_today_centavos, c.spent_month_centavos, cash - state.open_buys_centavos
    kept = []
    for o in orders.iter_rows(named=True):
        blocks = tuple(x for x in (f"kill switch on: {c.kill_switch}" if c.kill_switch else None,
                                   f"{o['symbol']} frozen: {c.frozen[o['symbol']]}" if o["symbol"] in c.frozen else None) if x)
        intent = OrderIntent(day, o["client_order_id"], o["symbol"], o["side"], int(o["amount_centavos"]), o.get("quantity"),
                             o["ref_price_brl"])
        reasons = check_order(intent, ctx, GuardFacts(blocks, available, spent_day, spent_month, held, cash))
        if reasons:
            decisions.append(_decision(day, o["symbol"], o["side"], "skipped", o["amount_centavos"], "guard: " + "; ".join(reasons)))
            continue
        kept.append(o["client_order_id"])
        if o["side"] == "buy":
            spent_day += intent.amount_centavos
            spent_month += intent.amount_centavos
            available -= intent.amount_centavos
    return kept


def _decision(day: date, symbol: str, side: str, decision: str, amount: int | None, reason: str) -> dict:
    return {"date": day, "symbol": symbol, "side": side, "decision": decision, "amount_centavos": amount, "reason": reason}


def month_bounds(day: date) -> tuple[date, date]:
    """First and last day of `day`'s month (the monthly spend cap's window)."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
