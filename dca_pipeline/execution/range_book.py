"""The book of a run of the execution assets over days whose plans are not recorded yet, with the paper broker and
automatic approval (a single-run backfill, or the scheduled day): the state the day core plans from and the
pre-send guards judge against is kept in memory — seeded from the event ledger, advanced by exactly the events
that will be written — and the events, decisions and projections are written in bulk at `flush` (the assets flush
at the end of the run, and at a month's end once `WRITE_EVERY_SECONDS` have passed since the last flush).

Crash safety and exactly-once at the paper exchange, as the order manager's per-order path (oms.py):
1. one transaction: each day's contribution, planned orders, the guards' rejections, approvals and `sent`
   marks, the decision table and the delisting exits table (write-ahead: nothing reaches the exchange before
   its `sent` is durable);
2. one transaction of the paper exchange's own account (`PaperAccount.accept_many`): the sent orders are booked;
3. one transaction: the delisting exits' events and the exchange's fills and final statuses, in day order, and
   the projected tables of those days.
A kill between 1 and 3 leaves recorded plans with `sent` orders: a rerun takes those days through the order
manager, which looks each order up at the exchange before placing it (never twice) and re-records the day's
exits from `execution.delisting_exits`. The bulk path is used only when the exchange holds no order of the days
it books (`PaperAccount.orders_since`), so its fills are what the exchange books."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import events as ev
from dca_pipeline.execution import guards, ledger_views, oms, projection
from dca_pipeline.execution.broker_interface import FINAL, BrokerReport, DailyPaperBroker
from dca_pipeline.execution.day import DayPlan, month_bounds
from dca_pipeline.execution.guards import GuardContext, GuardFacts, OrderIntent, check_order
from dca_pipeline.execution.ledger_protocol import MemoryLedger, exit_events
from dca_pipeline.execution.paper_account import PaperAccount
from dca_pipeline.governance.overrides import control_dir, pre_send_block_reasons
from dca_pipeline.storage import duck


@dataclass
class Flushed:
    """What one flush wrote: its days, their projected fills and their order states (for the assets' metadata)."""

    days: list[date]
    fills: pl.DataFrame
    states: pl.DataFrame
    arrival: dict[str, float] = field(default_factory=dict)  # client order id -> reference price when planned


class RangeBook:
    """The ledger of a range run in memory (a `MemoryLedger` plus what the guards need: spend by day and cash held
    by unfinished buys) and the writes it owes the warehouse and the exchange."""

    def __init__(self, db: Path, account: PaperAccount, first: date) -> None:
        self.db, self.account = Path(db), account
        self.control = control_dir()  # the overrides' folder, found once: its files are re-read for every order
        self.reseed(first)

    def reseed(self, day: date) -> None:
        """The book as the event ledger has it before `day` (at the start, and after a day the order manager ran)."""
        pos = ledger_views.positions(self.db)
        ident = ledger_views.identity(self.db) if ev.exists(self.db) else None
        self.book = MemoryLedger(
            cash=ident.cash if ident else 0, contributions=ident.contributions if ident else 0, fees=ident.fees if ident else 0,
            quantity={s: Decimal(q) for s, q, _, _ in pos.iter_rows()}, cost={s: int(c) for s, _, c, _ in pos.iter_rows()},
            realized={s: int(r) for s, _, _, r in pos.iter_rows()},
            last_contributed=ledger_views.last_contribution_day(self.db, day))
        self.open_buys = guards.outstanding_buys_centavos(self.db)
        first = day.replace(day=1)
        self.spent: dict[date, int] = {}  # buys that reached the exchange, by the order's day
        if day > first:
            self.spent[day - timedelta(days=1)] = ledger_views.spent_centavos(self.db, first, day - timedelta(days=1))
        self._clear()

    def _clear(self) -> None:
        self.days: list[date] = []
        self.ahead: list[ev.Event] = []  # transaction 1
        self.after: list[ev.Event | OrderIntent] = []  # transaction 3, in order (an intent stands for its report's events)
        self.placed: list[tuple[OrderIntent, BrokerReport]] = []
        self.decisions: list[pl.DataFrame] = []
        self.exits: list[pl.DataFrame] = []
        self.arrival: dict[str, float] = {}

    # what the day core plans from
    def holdings(self) -> pl.DataFrame:
        return self.book.holdings()

    def cash_centavos(self) -> int:
        return self.book.cash

    def spent_between(self, first: date, last: date) -> int:
        return sum(v for d, v in self.spent.items() if first <= d <= last)

    def record_corporate_actions(self, day: date, legs: pl.DataFrame) -> None:
        """Migration/airdrop legs booked in memory and owed to the ledger in order (before the day's plan)."""
        from dca_pipeline.execution.corporate_actions import events_for

        self.book.record_corporate_actions(day, legs)
        self.after += events_for(legs)

    def record_plan(self, day: date, plan: DayPlan) -> None:
        """The day's contribution, exits and planned orders, booked in memory and owed to the ledger."""
        self.days.append(day)
        self.book.contribute(day, plan.contribution_centavos)
        self.book.record_exits(day, plan.exits)
        self.ahead += oms.plan_events(day, plan.contribution_centavos, plan.orders)
        self.after += exit_events(day, plan.exits)
        self.decisions.append(plan.decisions)
        if len(plan.exits):
            self.exits.append(plan.exits)

    def execute(self, day: date, orders: pl.DataFrame, engine: DailyPaperBroker, context: GuardContext) -> None:
        """Each planned order, in client-id order as the order manager sends them: the pre-send guards against the
        book as it stands (overrides re-read for every order), then `sent` and the engine's report, booked."""
        intents = [OrderIntent(day, o["client_order_id"], o["symbol"], o["side"], int(o["amount_centavos"]),
                               Decimal(str(o["quantity"])) if o.get("quantity") is not None else None, o.get("ref_price_brl"))
                   for o in orders.sort("client_order_id").iter_rows(named=True)]
        reports = engine.place_many(intents) if intents else {}
        first, last = month_bounds(day)
        for order in intents:
            if order.ref_price:
                self.arrival[order.client_order_id] = order.ref_price
            facts = GuardFacts(
                blocks=tuple(pre_send_block_reasons(order.symbol, control=self.control)),
                cash_available_centavos=self.book.cash - self.open_buys,
                spent_day_centavos=self.spent.get(day, 0), spent_month_centavos=self.spent_between(first, last),
                held=dict(self.book.quantity), cash_total_centavos=self.book.cash,
            )
            reasons = check_order(order, context, facts)
            if reasons:
                self.ahead.append(oms.rejected_event(order, reasons))
                continue
            self.ahead += oms.sent_events(order, engine.name, auto_approve=True)
            report = reports[order.client_order_id]
            self.placed.append((order, report))
            self.after.append(order)
            self._book(order, report)

    def _book(self, order: OrderIntent, report: BrokerReport) -> None:
        filled = 0
        for f in report.fills:
            self.book.fill(order.symbol, order.side, f.quantity, f.notional_centavos, f.fee_centavos)
            filled += f.notional_centavos + f.fee_centavos
        if order.side == "buy":
            still_open = report.status not in FINAL
            self.spent[order.day] = self.spent.get(order.day, 0) + (max(order.amount_centavos, filled) if still_open else filled)
            if still_open:
                self.open_buys += max(order.amount_centavos - filled, 0)

    def flush(self) -> Flushed | None:
        """Write what the days since the last flush owe, in the three steps of the module docstring."""
        if not self.days:
            return None
        first, last = self.days[0], self.days[-1]
        ev.ensure_schema(self.db)
        with duck.transaction(self.db) as cur:
            ev.append_in(cur, self.ahead)
            duck.replace_rows(cur, "execution", "day_decisions", pl.concat(self.decisions), "date between ? and ?", [first, last])
            if self.exits:
                duck.replace_rows(cur, "execution", "delisting_exits", pl.concat(self.exits), "date between ? and ?", [first, last])
        booked = self.account.accept_many(self.placed)
        differ = [o.client_order_id for o, r in self.placed if _outcome(booked.get(o.client_order_id)) != _outcome(r)]
        if differ:  # another writer reached the exchange first: its books stand, a rerun records them (oms)
            raise RuntimeError(f"the paper exchange already held {len(differ)} of these orders ({', '.join(differ[:5])}): "
                               "rerun the range; its recorded days resume through the order manager")
        after: list[ev.Event] = []
        for item in self.after:
            after += oms.report_events(item, booked[item.client_order_id]) if isinstance(item, OrderIntent) else [item]
        with duck.transaction(self.db) as cur:
            ev.append_in(cur, after)
            fills = projection.project_range_in(cur, first, last)
        out = Flushed(list(self.days), fills, ledger_views.order_states(self.db, first, last), dict(self.arrival))
        self._clear()
        return out


def _outcome(report: BrokerReport | None) -> tuple | None:
    """A report without the exchange's own order id (assigned when it books the order)."""
    return None if report is None else (report.status, report.fills)
