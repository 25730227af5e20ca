"""The event ledger and the order manager: idempotent reruns, average cost, spend caps, approval, book fills."""
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.execution import events as ev
from dca_pipeline.execution import ledger_views, oms
from dca_pipeline.execution.paper_book_broker import Book, BookPaperBroker
from dca_pipeline.execution.broker_interface import DailyPaperBroker
from dca_pipeline.execution.guards import GuardContext, OrderIntent
from dca_pipeline.execution.orders import plan_dca_orders, plan_legs
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

from .conftest import assert_identity

D = date(2021, 1, 5)
NO_HOLDINGS = pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)})
PRICES = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 2.0]})
OPENS = PRICES.rename({"close": "open"})


class CountingBroker(DailyPaperBroker):
    """The daily paper broker, counting what reaches it."""

    def __init__(self) -> None:
        super().__init__(OPENS, Decimal("0.007"), 0)
        self.sent: list[str] = []

    def place(self, order: OrderIntent):  # noqa: ANN201
        self.sent.append(order.client_order_id)
        return super().place(order)


def _ctx(db, daily: int = 10**9, monthly: int = 10**9) -> GuardContext:  # noqa: ANN001
    return GuardContext(db, daily, monthly)


def _run_day(db, weights=(0.6, 0.4), cash=5_000, broker=None, ctx=None, approval="auto"):  # noqa: ANN001, ANN002, ANN201
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": list(weights)})
    orders = plan_dca_orders(D, targets, NO_HOLDINGS, PRICES, cash, 1000)
    oms.record_plan(db, D, 5_000, orders)
    return oms.execute_day(db, D, broker or CountingBroker(), ctx or _ctx(db), approval)


def test_rerunning_a_day_ten_times_changes_nothing() -> None:
    db = warehouse_path()
    _run_day(db)
    first = duck.query(db, "select * from execution.events order by event_id")
    states = ledger_views.order_states(db, D)
    for _ in range(10):
        _run_day(db)
    assert duck.query(db, "select * from execution.events order by event_id").equals(first)
    assert ledger_views.order_states(db, D).equals(states)
    # by hand: R$30 and R$20 orders, 0.7% fee: 21 and 14 centavos; all R$50 spent
    assert states["fee_centavos"].to_list() == [21, 14] and states["status"].to_list() == ["filled", "filled"]
    assert ledger_views.cash_centavos(db) == 0
    assert_identity(db)


def test_average_cost_and_realized_pnl_by_hand() -> None:
    db = warehouse_path()
    ev.append_events(db, [ev.contribution_event(D, 100_000)])
    trades = [("b1", "buy", "1", "100", 10_000, 70), ("b2", "buy", "1", "200", 20_000, 140), ("s1", "sell", "1", "300", 30_000, 210)]
    for cid, side, q, p, notional, fee in trades:
        ev.append_events(db, [ev.order_event(D, cid, "A/BRL", side, "planned", notional), ev.order_event(D, cid, "A/BRL", side, "sent")])
        ev.append_events(db, ev.fill_events(D, cid, "A/BRL", side, 1, Decimal(q), Decimal(p), notional, fee))
    pos = ledger_views.positions(db).row(0, named=True)
    # custo médio with fees (Brazilian rule): two buys cost 100.70 + 201.40 = R$302.10 for 2 coins, R$151.05 each;
    # selling one removes R$151.05 and realizes 300.00 - 2.10 (sell fee) - 151.05 = R$146.85
    assert pos["quantity"] == Decimal(1) and pos["cost_centavos"] == 15_105 and pos["realized_centavos"] == 14_685
    assert ledger_views.cash_centavos(db) == 99_580  # 1000 - 100 - 200 + 300 - 4.20 of fees
    assert ledger_views.identity(db).holds  # 1000 + 146.85 = 995.80 + 151.05
    upnl = ledger_views.unrealized_pnl(ledger_views.positions(db), {"A/BRL": 180.0}).row(0, named=True)
    assert upnl["unrealized_centavos"] == 2_895  # 180.00 - 151.05
    with pytest.raises(ValueError, match="exceeds"):
        ledger_views.replay_average_cost([("A/BRL", "buy", Decimal(1), 100), ("A/BRL", "sell", Decimal(2), 300)])


def test_status_machine_refuses_illegal_transitions() -> None:
    db = warehouse_path()
    ev.append_event(db, ev.order_event(D, "x", "A/BRL", "buy", "planned", 1000))
    with pytest.raises(ev.TransitionError, match="planned -> filled"):
        ev.append_event(db, ev.order_event(D, "x", "A/BRL", "buy", "filled"))
    assert ev.order_status(db, "x") == "planned"


def test_spend_caps_hold_with_corrupt_targets_at_the_broker_boundary() -> None:
    db = warehouse_path()
    broker = CountingBroker()
    ev.append_events(db, [ev.contribution_event(date(2021, 1, 4), 100_000)])  # R$1000 in cash
    caps = _ctx(db, daily=2_500, monthly=4_000)
    first = _run_day(db, weights=(0.5, 0.5), cash=2_000, broker=broker, ctx=caps)  # R$20: within the caps
    assert int((first["filled_centavos"] + first["fee_centavos"]).sum()) == 2_000
    # next day, weights summing to 3 and a corrupt cash figure: the plan asks for R$900
    day2 = date(2021, 1, 6)
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [1.5, 1.5]})
    corrupt = plan_dca_orders(day2, targets, NO_HOLDINGS, PRICES, 90_000, 1000)
    assert corrupt["amount_centavos"].sum() == 90_000
    oms.record_plan(db, day2, 0, corrupt)
    states = oms.execute_day(db, day2, broker, caps)
    assert set(states["status"]) == {"rejected"} and len(broker.sent) == 2  # only day 1's two orders reached it
    reasons = duck.query(db, "select detail from execution.events where status = 'rejected'")["detail"].to_list()
    assert any("daily spend cap" in r for r in reasons) and any("monthly spend cap" in r for r in reasons)
    # a hand-made R$25 order on day 3 fits the daily cap but not the month's remaining R$20
    day3 = date(2021, 1, 7)
    ev.append_event(db, ev.order_event(day3, "corrupt-1", "A/BRL", "buy", "planned", 2_500))
    assert oms.advance_order(db, OrderIntent(day3, "corrupt-1", "A/BRL", "buy", 2_500), broker, caps) == "rejected"
    assert ledger_views.spent_centavos(db, date(2021, 1, 1), date(2021, 1, 31)) == 2_000 <= 4_000


def test_manual_approval_sends_only_approved_orders() -> None:
    db = warehouse_path()
    broker = CountingBroker()
    states = _run_day(db, broker=broker, approval="manual")
    assert states["status"].to_list() == ["pending_approval"] * 2 and broker.sent == []
    _run_day(db, broker=broker, approval="manual")  # a rerun sends nothing either
    assert broker.sent == []
    a, b = oms.pending_ids(db, D)
    assert oms.approve(db, [a]) == [a] and oms.reject(db, [b]) == [b]
    states = _run_day(db, broker=broker, approval="manual")
    assert broker.sent == [a]
    assert dict(zip(states["client_order_id"], states["status"])) == {a: "filled", b: "rejected"}


def test_book_broker_walks_the_book_with_partial_fill_when_thin() -> None:
    book = Book(bids=((Decimal("99"), Decimal("5")),), asks=((Decimal("100"), Decimal("0.1")), (Decimal("101"), Decimal("0.1"))))
    broker = BookPaperBroker({"A/BRL": book}, Decimal("0.003"), Decimal("0.007"), style="market")
    r = broker.place(OrderIntent(D, "o1", "A/BRL", "buy", 5_000))
    # R$50 wants ~0.5 coin; the book has 0.2: 0.1 at 100 (R$10 + 7c fee) and 0.1 at 101 (R$10.10 + 7c)
    assert [(f.quantity, f.notional_centavos, f.fee_centavos) for f in r.fills] == [(Decimal("0.1"), 1000, 7), (Decimal("0.1"), 1010, 7)]
    assert r.status == "expired"  # remainder expired: a partial fill
    # limit at the bid (99) fills from the tape at the maker fee, the rest at the ask (taker)
    taped = Book(book.bids, ((Decimal("100"), Decimal("10")),), tape=((Decimal("99"), Decimal("0.2")), (Decimal("99.5"), Decimal("1"))))
    r2 = BookPaperBroker({"A/BRL": taped}, Decimal("0.003"), Decimal("0.007")).place(OrderIntent(D, "o2", "A/BRL", "buy", 5_000))
    assert r2.fills[0].liquidity == "maker" and r2.fills[0].price == Decimal("99") and r2.fills[0].quantity == Decimal("0.2")
    assert r2.fills[0].fee_centavos == 6  # 0.3% of R$19.80 = 5.94 -> 6
    assert r2.fills[1].liquidity == "taker" and r2.status == "filled"
    spent = sum(f.notional_centavos + f.fee_centavos for f in r2.fills)
    assert 5_000 - 100 < spent <= 5_000


def test_partial_fills_recorded_through_the_oms() -> None:
    db = warehouse_path()
    book = Book(bids=((Decimal("99"), Decimal("5")),), asks=((Decimal("100"), Decimal("0.1")), (Decimal("101"), Decimal("0.1"))))
    broker = BookPaperBroker({"A/BRL": book, "B/BRL": book}, Decimal("0.003"), Decimal("0.007"), style="market")
    states = _run_day(db, broker=broker)
    a = states.filter(pl.col("symbol") == "A/BRL").row(0, named=True)
    assert a["status"] == "expired" and a["filled_quantity"] == Decimal("0.2") and a["filled_centavos"] == 2010
    marks = duck.query(db, "select count(*) as n from execution.events where status = 'partially_filled' and client_order_id = ?", [a["client_order_id"]])
    assert marks["n"][0] == 2


def test_plan_legs_accepts_sells_and_enforces_market_minimums() -> None:
    legs = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "A/BRL"], "side": ["buy", "sell", "sell"], "amount_centavos": [3_000, 500, 50_000]})
    held = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "quantity": [Decimal("2"), Decimal("100")]})
    orders, skipped = plan_legs(D, legs, held, PRICES, 2_000, 1_000, {"A/BRL": 1_500})
    got = {(r["symbol"], r["side"]): r for r in orders.iter_rows(named=True)}
    assert got[("A/BRL", "sell")]["quantity"] == Decimal(2) and got[("A/BRL", "sell")]["amount_centavos"] == 20_000  # capped at holdings
    assert got[("A/BRL", "buy")]["amount_centavos"] == 2_000  # scaled to cash, ≥ the A market minimum R$15
    assert skipped.row(0, named=True)["symbol"] == "B/BRL" and "minimum" in skipped["reason"][0]
    assert orders["client_order_id"].to_list() == ["dca-20210105-A-BRL-sell", "dca-20210105-A-BRL-buy"]


def test_a_sell_leg_through_the_oms_realizes_pnl_at_average_cost() -> None:
    db = warehouse_path()
    _run_day(db, weights=(1.0, 0.0))  # R$50 of A at R$100: fee 35c, notional 49.65 -> 0.4965 A
    held = ledger_views.positions(db).filter(pl.col("symbol") == "A/BRL").row(0, named=True)
    assert held["quantity"] == Decimal("0.4965") and held["cost_centavos"] == 5_000  # the fee is in the cost
    day2 = date(2021, 1, 6)
    legs = pl.DataFrame({"symbol": ["A/BRL"], "side": ["sell"], "amount_centavos": [2_400]})
    orders, skipped = plan_legs(day2, legs, ledger_views.positions(db), PRICES, 0, 1_000)
    assert skipped.is_empty() and orders["quantity"][0] == Decimal("0.24")
    oms.record_plan(db, day2, 0, orders)
    rising = DailyPaperBroker(pl.DataFrame({"symbol": ["A/BRL"], "open": [120.0]}), Decimal("0.007"), 0)
    states = oms.execute_day(db, day2, rising, _ctx(db))
    assert states["status"].to_list() == ["filled"]
    pos = ledger_views.positions(db).filter(pl.col("symbol") == "A/BRL").row(0, named=True)
    # 0.24 of 0.4965 at average cost: 5000 x 0.24 / 0.4965 = 2416.918 -> 2417 removed; proceeds 0.24 x 120 =
    # R$28.80 less the 20c fee: realized 2880 - 20 - 2417 = 443
    assert pos["quantity"] == Decimal("0.2565") and pos["cost_centavos"] == 2_583 and pos["realized_centavos"] == 443
    assert ledger_views.cash_centavos(db) == 2_880 - 20  # proceeds less the 0.7% fee (20.16c -> 20c)
    assert_identity(db)
