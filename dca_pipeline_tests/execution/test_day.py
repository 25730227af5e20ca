"""The day core: each decision of `plan_day` on a small hand-built day, its reason, and the figures by hand.

Budget R$3100/month → R$100.00 a day in March (31 days); taker fee 0.7%; minimum order R$10."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.execution.day import MARKET_SCHEMA, Controls, DayState, MarketTape, MarketView, plan_day, simulate_day
from dca_pipeline.execution.ledger_protocol import MemoryLedger

DAY = date(2021, 3, 10)
HOLD = {"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64}


def _settings(**changes: str):  # noqa: ANN202
    s = override(load_settings(), "budget_brl_per_month", "3100.00")
    for key, value in {"execution.max_volume_share": "null", **changes}.items():
        s = override(s, key, value)
    return s


def _market(rows: list[tuple[str, date, float, float | None]], as_of: datetime | None = None) -> MarketView:
    return MarketView(pl.DataFrame(rows, schema=MARKET_SCHEMA, orient="row"), as_of)


def _holdings(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame([(s, Decimal(q), c) for s, q, c in rows], schema=HOLD, orient="row")


TARGETS = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
FRESH = [("A/BRL", DAY, 10.0, 1e9), ("B/BRL", DAY, 20.0, 1e9)]


def test_buys_split_the_slice_by_deficit() -> None:
    plan = plan_day(DAY, DayState(_holdings([]), 0), _market(FRESH), TARGETS, _settings())
    # cash 10000 centavos, empty book: each deficit 0.5 x R$100 = R$50 -> two orders of 5000
    assert plan.contribution_centavos == 10_000
    assert sorted(plan.orders.select("symbol", "amount_centavos").rows()) == [("A/BRL", 5_000), ("B/BRL", 5_000)]
    assert set(plan.decisions["decision"]) == {"buy"}


def test_a_stale_price_skips_that_coin_only() -> None:
    market = _market([("A/BRL", DAY - timedelta(days=2), 10.0, 1e9), ("B/BRL", DAY, 20.0, 1e9)])
    plan = plan_day(DAY, DayState(_holdings([]), 0), market, TARGETS, _settings())
    # A's bar closed 2021-03-09 00:00, 48h before the day's close (> 36h): skipped; B still gets its R$50 deficit
    assert plan.orders.select("symbol", "amount_centavos").rows() == [("B/BRL", 5_000)]
    a = plan.decisions.filter(pl.col("symbol") == "A/BRL").row(0, named=True)
    assert a["decision"] == "skipped" and a["reason"].startswith("stale price: price age 2 days")
    # judged by a live clock instead: 13 hours after A's bar closed is fresh
    live = _market([("A/BRL", DAY - timedelta(days=2), 10.0, 1e9), ("B/BRL", DAY, 20.0, 1e9)],
                   as_of=datetime(2021, 3, 9, 13, tzinfo=timezone.utc))
    assert "A/BRL" in plan_day(DAY, DayState(_holdings([]), 0), live, TARGETS, _settings()).orders["symbol"].to_list()


@pytest.mark.parametrize("policy, proceeds, fee", [("last_price", 1_500, 10), ("write_off", 0, 0)])
def test_a_held_coin_without_bars_is_exited_by_the_policy(policy: str, proceeds: int, fee: int) -> None:
    held = _holdings([("C/BRL", "2", 1_000)])
    market = _market([*FRESH, ("C/BRL", DAY - timedelta(days=8), 7.5, 1e9)])
    settings = _settings(**{"delisting.policy": policy})
    plan = plan_day(DAY, DayState(held, 0), market, TARGETS, settings)
    # 2 x R$7.50 = R$15.00; fee 0.7% = 10.5 -> 10 (half-even); write_off books zero
    x = plan.exits.row(0, named=True)
    assert (x["symbol"], x["quantity"], x["price_date"], x["proceeds_centavos"], x["fee_centavos"]) == (
        "C/BRL", Decimal(2), DAY - timedelta(days=8), proceeds, fee)
    assert int(plan.orders["amount_centavos"].sum()) == 10_000 + proceeds - fee  # the proceeds are spent too
    # 7 days without a bar is still within the rule
    recent = _market([*FRESH, ("C/BRL", DAY - timedelta(days=7), 7.5, 1e9)])
    assert plan_day(DAY, DayState(held, 0), recent, TARGETS, settings).exits.is_empty()


def test_guards_withhold_with_their_reason() -> None:
    state = DayState(_holdings([]), 0, controls=Controls(kill_switch="maintenance"))
    plan = plan_day(DAY, state, _market(FRESH), TARGETS, _settings())
    assert plan.orders.is_empty()
    assert plan.decisions["reason"].to_list() == ["guard: kill switch on: maintenance"] * 2
    frozen = plan_day(DAY, DayState(_holdings([]), 0, controls=Controls(frozen={"A/BRL": "audit"})), _market(FRESH), TARGETS, _settings())
    assert frozen.orders["symbol"].to_list() == ["B/BRL"]
    assert frozen.decisions.filter(pl.col("symbol") == "A/BRL")["reason"].to_list() == ["guard: A/BRL frozen: audit"]
    # position limit R$40: A would be R$50 after the buy
    limited = plan_day(DAY, DayState(_holdings([]), 0), _market(FRESH), TARGETS, _settings(**{"execution.max_position_brl": "40"}))
    assert limited.orders.is_empty()
    assert all(r.startswith("guard: position limit") for r in limited.decisions["reason"].to_list())


def test_spend_caps_shape_the_plan() -> None:
    # daily cap R$60, R$30 already sent today: R$30 left -> one order of R$30 to the larger deficit (tie: A first)
    state = DayState(_holdings([]), 0, controls=Controls(spent_today_centavos=3_000))
    plan = plan_day(DAY, state, _market(FRESH), TARGETS, _settings(**{"execution.daily_spend_cap_brl": "60"}))
    assert plan.orders.select("symbol", "amount_centavos").rows() == [("A/BRL", 3_000)]
    assert plan.decisions.filter(pl.col("symbol") == "B/BRL")["reason"][0].startswith("below minimum: cash left 0")


def test_the_drawdown_breaker_stops_every_order() -> None:
    controls = Controls(twr_history=(0.0, 0.5, -0.5))  # 0.5 / 1.5 - 1 = -66.7% < -60%
    plan = plan_day(DAY, DayState(_holdings([]), 0, controls=controls), _market(FRESH), TARGETS,
                    _settings(**{"risk.max_drawdown_halt": "0.6"}))
    assert plan.breaker.tripped and plan.orders.is_empty()
    assert all(r.startswith("drawdown breaker: -66.7%") for r in plan.decisions["reason"].to_list())


def test_rebalance_sells_on_the_first_day_when_allowed() -> None:
    first = date(2021, 3, 1)
    held = _holdings([("A/BRL", "1000", 1_000_000), ("B/BRL", "1", 2_000)])  # A R$10000 vs B R$20: a gap the R$3100 month cannot close
    market = _market([("A/BRL", first, 10.0, 1e9), ("B/BRL", first, 20.0, 1e9)])
    off = plan_day(first, DayState(held, 0), market, TARGETS, _settings())
    on = plan_day(first, DayState(held, 0), market, TARGETS, _settings(**{"portfolio.rebalance.allow_sells": "true"}))
    assert "sell" not in off.orders["side"].to_list()
    sells = on.orders.filter(pl.col("side") == "sell")
    assert sells["symbol"].to_list() == ["A/BRL"] and sells["quantity"][0] > 0
    assert on.decisions.filter(pl.col("decision") == "sell")["reason"][0].startswith("rebalance: ")


def test_simulate_day_books_the_plan_on_a_ledger() -> None:
    book = MemoryLedger()
    nxt = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "open": [10.0, 20.0]})
    plan, fills, status = simulate_day(DAY, book, _market(FRESH), nxt, TARGETS, _settings(**{"slippage_bps": "0"}))
    # each R$50 order: fee 35, notional R$49.65 -> 4.965 A at R$10 and 2.4825 B at R$20
    assert status == {cid: "filled" for cid in plan.orders["client_order_id"]}
    assert book.cash_centavos() == 0 and book.totals().fees == 70
    assert book.holdings().select("symbol", "quantity").rows() == [("A/BRL", Decimal("4.965")), ("B/BRL", Decimal("2.4825"))]


def test_market_tape_keeps_the_last_bar_within_400_days() -> None:
    bars = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "A/BRL"], "date": [date(2020, 1, 1), date(2021, 3, 1), date(2021, 3, 5)],
                         "close": [1.0, 2.0, 3.0], "volume": [1.0, 2.0, 3.0]})
    tape = MarketTape(bars)
    # A's 2020-01-01 bar is 428 days old on 2021-03-04: beyond the 400-day window
    assert tape.view(date(2021, 3, 4)).bars.select("symbol", "date", "close").rows() == [("B/BRL", date(2021, 3, 1), 2.0)]
    v = tape.view(date(2021, 3, 6)).bars.select("symbol", "date", "close").rows()
    assert v == [("A/BRL", date(2021, 3, 5), 3.0), ("B/BRL", date(2021, 3, 1), 2.0)]
