"""Corporate actions on the book (execution/corporate_actions.py): a MATIC holding becomes POL with the same
cost basis, LUNC holders get the LUNA2 airdrop at zero cost, the ledger identity holds in both books, and the
production day carried across 2024-09-04 shows no false loss. Expected figures are worked by hand in comments."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.execution import corporate_actions as ca
from dca_pipeline.execution import ledger_views
from dca_pipeline.execution.day import MarketTape, book_value_centavos, simulate_day
from dca_pipeline.execution.ledger_protocol import EventLedger, Ledger, MemoryLedger
from dca_pipeline.governance import audit
from dca_pipeline.ingestion.corporate_actions import load_corporate_actions
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

SWITCH = date(2024, 9, 4)
GENESIS = date(2022, 5, 28)
NO_TARGETS = pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64})


@pytest.fixture(params=["memory", "events"])
def book(request: pytest.FixtureRequest) -> Ledger:
    return MemoryLedger() if request.param == "memory" else EventLedger(warehouse_path())


def _buy(book: Ledger, day: date, symbol: str, quantity: str, notional: int, fee: int) -> None:
    book.contribute(day, notional + fee + 1_000)  # R$10 more than the buy stays in cash
    book.record_fills(day, pl.DataFrame(
        [{"client_order_id": f"dca-{day:%Y%m%d}-{symbol.replace('/', '-')}-buy", "symbol": symbol, "side": "buy",
          "quantity": Decimal(quantity), "price_brl": notional / 100 / float(quantity), "notional_centavos": notional,
          "fee_centavos": fee, "broker": "paper"}],
        schema={"client_order_id": pl.String, "symbol": pl.String, "side": pl.String, "quantity": pl.Decimal(38, 8),
                "price_brl": pl.Float64, "notional_centavos": pl.Int64, "fee_centavos": pl.Int64, "broker": pl.String}))


def _held(book: Ledger) -> dict[str, tuple[Decimal, int]]:
    return {s: (Decimal(q), c) for s, q, c in book.holdings().iter_rows()}


def test_a_matic_holding_becomes_pol_with_its_cost_basis_and_the_identity_holds(book: Ledger) -> None:
    # 500 MATIC bought for R$1,000.00 + R$7.00 fee: cost 100_700 centavos, cash R$10.00 left
    _buy(book, date(2024, 8, 20), "MATIC/BRL", "500", 100_000, 700)
    before = book.totals()
    holdings, targets, legs = ca.apply_day(book, SWITCH - timedelta(days=1), book.holdings(),
                                           pl.DataFrame({"symbol": ["MATIC/BRL"], "weight": [1.0]}))
    assert legs.is_empty() and _held(book) == {"MATIC/BRL": (Decimal(500), 100_700)}  # not yet effective
    assert targets["symbol"].to_list() == ["MATIC/BRL"]

    holdings, targets, legs = ca.apply_day(book, SWITCH, book.holdings(), pl.DataFrame({"symbol": ["MATIC/BRL", "BTC/BRL"], "weight": [0.4, 0.6]}))
    assert legs.select("symbol", "leg").rows() == [("MATIC/BRL", "out"), ("POL/BRL", "in")]
    assert _held(book) == {"POL/BRL": (Decimal(500), 100_700)}  # 1:1, custo médio carried
    assert {s: (Decimal(q), c) for s, q, c in holdings.iter_rows()} == _held(book)  # what the day plans with
    assert dict(targets.select("symbol", "weight").iter_rows()) == {"POL/BRL": 0.4, "BTC/BRL": 0.6}
    after = book.totals()
    assert (after.contributions, after.realized, after.cash, after.cost, after.fees) == (101_700, 0, 1_000, 100_700, 700)
    assert after == before and after.holds  # no sale, no cash, no realized P&L

    ca.apply_day(book, SWITCH, book.holdings(), NO_TARGETS)  # a rerun of the day books nothing more
    ca.apply_day(book, SWITCH + timedelta(days=1), book.holdings(), NO_TARGETS)  # nor does the next day
    assert _held(book) == {"POL/BRL": (Decimal(500), 100_700)} and book.totals() == after


def test_selling_after_the_migration_realizes_against_the_carried_cost(book: Ledger) -> None:
    _buy(book, date(2024, 8, 20), "MATIC/BRL", "500", 100_000, 700)
    ca.apply_day(book, SWITCH, book.holdings(), NO_TARGETS)
    # sell 200 POL for R$300.00, fee R$2.10: removed cost 100_700 × 200/500 = 40_280; realized 30_000 − 210 − 40_280
    book.record_fills(date(2024, 9, 10), pl.DataFrame(
        [{"client_order_id": "dca-20240910-POL-BRL-sell", "symbol": "POL/BRL", "side": "sell", "quantity": Decimal(200),
          "price_brl": 1.5, "notional_centavos": 30_000, "fee_centavos": 210, "broker": "paper"}]))
    t = book.totals()
    assert (t.realized, t.cost, t.cash) == (-10_490, 60_420, 1_000 + 30_000 - 210) and t.holds


def test_the_event_ledger_audits_each_leg() -> None:
    db = warehouse_path()
    book = EventLedger(db)
    _buy(book, date(2024, 8, 20), "MATIC/BRL", "500", 100_000, 700)
    ca.apply_day(book, SWITCH, book.holdings(), NO_TARGETS)
    rows = duck.query(db, "select symbol, side, quantity, amount_centavos, cash_centavos from execution.events "
                          "where kind = 'corporate_action' order by seq")
    assert rows.rows() == [("MATIC/BRL", "sell", Decimal("500.00000000"), 100_700, 0), ("POL/BRL", "buy", Decimal("500.00000000"), 100_700, 0)]
    actions = audit.entries(db).filter(pl.col("action") == "corporate_action")
    assert sorted(actions["subject"].to_list()) == ["MATIC/BRL", "POL/BRL"]
    assert ledger_views.identity(db).holds and audit.verify_chain(db).ok


def test_luna_becomes_lunc_and_the_luna2_airdrop_arrives_at_zero_cost(book: Ledger) -> None:
    _buy(book, date(2022, 5, 1), "LUNA/BRL", "100", 50_000, 350)
    _, _, legs = ca.apply_day(book, GENESIS, book.holdings(), NO_TARGETS)
    # rename first (table order), then both airdrops on the LUNC held, each truncated to 8 decimals:
    # 100 × 1.034735071 = 103.4735071; 100 × 0.000015307927 = 0.0015307927 → 0.00153079; sum 103.47503789
    assert legs.select("action_id", "symbol", "leg").rows() == [
        ("luna_lunc_2022", "LUNA/BRL", "out"), ("luna_lunc_2022", "LUNC/BRL", "in"),
        ("luna2_airdrop_pre_attack_2022", "LUNA2/BRL", "in"), ("luna2_airdrop_post_attack_2022", "LUNA2/BRL", "in")]
    assert _held(book) == {"LUNC/BRL": (Decimal(100), 50_350), "LUNA2/BRL": (Decimal("103.47503789"), 0)}
    assert book.totals().holds and book.totals().cost == 50_350
    ca.apply_day(book, GENESIS + timedelta(days=1), book.holdings(), NO_TARGETS)  # an airdrop happens on its date only
    assert _held(book)["LUNA2/BRL"] == (Decimal("103.47503789"), 0)


def test_a_redenomination_multiplies_the_quantity_and_keeps_the_cost(book: Ledger) -> None:
    _buy(book, date(2022, 1, 10), "BTTOLD/BRL", "3", 1_000, 7)
    ca.apply_day(book, date(2022, 2, 1), book.holdings(), NO_TARGETS)
    assert _held(book) == {"BTT/BRL": (Decimal(3000), 1_007)} and book.totals().holds


def test_the_day_across_the_switch_shows_no_false_loss() -> None:
    """simulate_day (the backtest's day, the same plan_day as Dagster) on the bundled MATIC/POL bars, buying MATIC
    every day of September 2024: the holding moves to POL on the 4th, nothing is exited (without the migration the
    MATIC bought, whose bars stop on the 3rd, is written off on the 11th), and the switch day's value
    change is exactly the market move of what was held plus the day's cash flows (computed here from the bars)."""
    settings = override(load_settings(), "delisting.policy", "write_off")  # a stranded MATIC would be written off
    bars = ReplaySource().fetch_ohlcv_1d(date(2024, 8, 1), date(2024, 9, 13)).filter(pl.col("symbol").is_in(["MATIC/BRL", "POL/BRL"]))
    assert bars.filter(pl.col("symbol") == "POL/BRL")["date"].min() == SWITCH  # the bundle's own switch
    tape, book = MarketTape(bars), MemoryLedger()
    targets = pl.DataFrame({"symbol": ["MATIC/BRL"], "weight": [1.0]})
    by_day = {d: g for (d,), g in bars.partition_by("date", as_dict=True).items()}
    values, exits, held_by_day, closes = {}, [], {}, {}
    day = date(2024, 8, 25)
    no_open = pl.DataFrame(schema={"symbol": pl.String, "open": pl.Float64})
    while day <= date(2024, 9, 12):
        market = tape.view(day)
        nxt = by_day.get(day + timedelta(days=1))
        plan, fills, _ = simulate_day(day, book, market, nxt.select("symbol", "open") if nxt is not None else no_open, targets, settings)
        exits.append(plan.exits)
        values[day] = book_value_centavos(book, market)
        held_by_day[day] = dict((s, q) for s, q, _ in book.holdings().iter_rows())
        closes[day] = dict(market.bars.select("symbol", "close").iter_rows())
        day += timedelta(days=1)
    assert pl.concat(exits).is_empty()  # no delisting exit of a stranded MATIC
    assert set(held_by_day[date(2024, 9, 3)]) == {"MATIC/BRL"} and set(held_by_day[SWITCH]) == {"POL/BRL"}
    assert held_by_day[SWITCH]["POL/BRL"] >= held_by_day[date(2024, 9, 3)]["MATIC/BRL"]  # carried, then bought more
    assert book.totals().holds
    # the switch day: value moves only by the held quantity × (POL close on the 4th − MATIC close on the 3rd)
    prev, cur = date(2024, 9, 3), SWITCH
    q = held_by_day[prev]["MATIC/BRL"]
    market_move = float(q) * (closes[cur]["POL/BRL"] - closes[prev]["MATIC/BRL"]) * 100
    cash_in = book.totals().contributions  # the day's slice went to cash and was then spent: value-neutral but for fees
    change = values[cur] - values[prev]
    slice_centavos = _contribution_on(cur, settings)
    assert abs(change - slice_centavos - market_move) < 0.01 * slice_centavos + 2  # fees/slippage of the day's buy only
    pol_move = closes[cur]["POL/BRL"] / closes[prev]["MATIC/BRL"] - 1
    assert -0.06 < pol_move < 0  # the real move that day (USD 0.3978 → 0.3814, −4.1%, and USD/BRL), not a crash
    assert cash_in > 0


def _contribution_on(day: date, settings) -> int:  # noqa: ANN001
    from dca_pipeline.money import daily_contribution_centavos

    return daily_contribution_centavos(settings.budget_centavos, day)


def test_the_table_maps_matic_to_pol_only_from_the_switch() -> None:
    actions = load_corporate_actions()
    t = pl.DataFrame({"symbol": ["MATIC/BRL"], "weight": [1.0]})
    assert ca.remap_targets(t, actions, SWITCH - timedelta(days=1))["symbol"].to_list() == ["MATIC/BRL"]
    assert ca.remap_targets(t, actions, SWITCH)["symbol"].to_list() == ["POL/BRL"]


def test_the_paper_exchange_migrates_too_so_reconciliation_stays_clean() -> None:
    """The ledger books MATIC bought on 09-03 (the paper exchange fills it at 09-04 00:00, the next open); on the
    4th the ledger migrates it and the paper account's balances, converted by the venue on the same date, agree."""
    from datetime import datetime, timezone

    from dca_pipeline.execution.broker_interface import BrokerFill, BrokerReport
    from dca_pipeline.execution.guards import OrderIntent
    from dca_pipeline.execution.paper_account import PaperAccount
    from dca_pipeline.execution.reconcile import ledger_side, paper_broker_side, reconcile
    from dca_pipeline.paths import dca_home

    db = warehouse_path()
    book = EventLedger(db)
    day = SWITCH - timedelta(days=1)
    _buy(book, day, "MATIC/BRL", "500", 100_000, 700)
    account = PaperAccount(dca_home() / "broker" / "corp.sqlite")
    intent = OrderIntent(day, f"dca-{day:%Y%m%d}-MATIC-BRL-buy", "MATIC/BRL", "buy", 100_700, None, 2.0)
    account.accept(intent, BrokerReport(intent.client_order_id, "filled", (
        BrokerFill(1, Decimal(500), Decimal(2), 100_000, 700, "taker", datetime(2024, 9, 4, tzinfo=timezone.utc)),)))
    assert reconcile(*ledger_side(db), *paper_broker_side(db, account)).is_empty()  # both MATIC before the switch
    ca.apply_day(book, SWITCH, book.holdings(), NO_TARGETS)
    balances, _ = paper_broker_side(db, account)
    assert balances["POL"] == Decimal(500) and "MATIC" not in balances
    assert reconcile(*ledger_side(db), *paper_broker_side(db, account)).is_empty()


def test_venue_balances_credit_the_airdrop_on_the_balance_at_genesis() -> None:
    fills = [("LUNA/BRL", "buy", "100", "2022-05-02T00:00:00+00:00"), ("LUNC/BRL", "buy", "5", "2022-09-10T00:00:00+00:00")]
    assert ca.venue_balances(fills[:1], date(2022, 5, 27)) == {"LUNA": Decimal(100)}  # actions after as_of wait
    # at genesis: 100 LUNA → 100 LUNC and 103.47503789 LUNA2 (see above); the later LUNC buy earns no airdrop
    assert ca.venue_balances(fills, date(2022, 10, 1)) == {"LUNC": Decimal(105), "LUNA2": Decimal("103.47503789")}
