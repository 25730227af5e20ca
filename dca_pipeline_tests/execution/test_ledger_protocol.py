"""One suite, both books: the DuckDB event ledger and the in-memory ledger obey the same money rules.

Every expected figure is worked out by hand in the comments (centavos; 0.7% taker fee, half-even)."""
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.execution.day import EXIT_SCHEMA
from dca_pipeline.execution.ledger_protocol import EventLedger, Ledger, MemoryLedger
from dca_pipeline.paths import warehouse_path

D1, D2, D3 = date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3)


@pytest.fixture(params=["memory", "events"])
def book(request: pytest.FixtureRequest) -> Ledger:
    return MemoryLedger() if request.param == "memory" else EventLedger(warehouse_path())


def _fill(day: date, symbol: str, side: str, quantity: str, price: float, notional: int, fee: int) -> pl.DataFrame:
    cid = f"dca-{day:%Y%m%d}-{symbol.replace('/', '-')}-{side}"
    return pl.DataFrame(
        [{"client_order_id": cid, "symbol": symbol, "side": side, "quantity": Decimal(quantity), "price_brl": price,
          "notional_centavos": notional, "fee_centavos": fee, "broker": "paper"}],
        schema={"client_order_id": pl.String, "symbol": pl.String, "side": pl.String, "quantity": pl.Decimal(38, 8),
                "price_brl": pl.Float64, "notional_centavos": pl.Int64, "fee_centavos": pl.Int64, "broker": pl.String},
    )


def _exit(day: date, symbol: str, quantity: str, price: float, proceeds: int, fee: int, cost: int) -> pl.DataFrame:
    return pl.DataFrame([{
        "date": day, "client_order_id": f"dca-{day:%Y%m%d}-{symbol.replace('/', '-')}-exit", "symbol": symbol,
        "quantity": Decimal(quantity), "price_brl": price, "last_close_brl": price, "price_date": date(2021, 2, 20),
        "policy": "last_price", "proceeds_centavos": proceeds, "fee_centavos": fee, "cost_centavos": cost, "reason": "delisting",
    }], schema=EXIT_SCHEMA)


def test_both_implement_the_protocol(book: Ledger) -> None:
    assert isinstance(book, Ledger)


def test_contribution_is_cash(book: Ledger) -> None:
    book.contribute(D1, 10_000)
    book.contribute(D2, 3_226)
    t = book.totals()
    assert (book.cash_centavos(), t.contributions, t.fees, t.cost, t.realized) == (13_226, 13_226, 0, 0, 0)
    assert book.holdings().is_empty() and t.holds


def test_buy_fill_with_fee(book: Ledger) -> None:
    book.contribute(D1, 10_000)
    # R$50.00 gross: fee 0.7% = 35, notional 4965, 0.5 A at R$99.30
    book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.5", 99.30, 4_965, 35))
    assert book.cash_centavos() == 10_000 - 5_000
    # custo médio includes the fee: cost 4965 + 35 = 5000
    assert book.holdings().rows() == [("A/BRL", Decimal("0.5"), 5_000)]
    t = book.totals()
    assert (t.fees, t.cost) == (35, 5_000) and t.holds  # 10000 = cash 5000 + cost 5000


def test_sell_fill_books_realized_pnl_at_average_cost(book: Ledger) -> None:
    book.contribute(D1, 10_000)
    book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.5", 99.30, 4_965, 35))
    # sell 0.2 at R$120: notional 2400, fee 16.8 -> 17; cost removed 5000 x 0.2/0.5 = 2000;
    # realized = 2400 - 17 - 2000 = 383
    book.record_fills(D2, _fill(D2, "A/BRL", "sell", "0.2", 120.0, 2_400, 17))
    assert book.cash_centavos() == 5_000 + 2_400 - 17
    assert book.holdings().rows() == [("A/BRL", Decimal("0.3"), 3_000)]
    pos = book.positions().row(0, named=True)
    assert pos["realized_centavos"] == 383
    t = book.totals()
    assert (t.realized, t.fees) == (383, 52) and t.holds  # 10000 + 383 = cash 7383 + cost 3000


def test_average_cost_rounds_half_even(book: Ledger) -> None:
    book.contribute(D1, 5_000)
    book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.1", 100.0, 1_000, 7))
    book.record_fills(D2, _fill(D2, "A/BRL", "buy", "0.1", 20.0, 2, 0))  # cost 1000 + 7 + 2 = 1009 for 0.2
    # sell half: removed cost 1009 x 0.1/0.2 = 504.5 -> half-even 504; realized 600 - 4 - 504 = 92
    book.record_fills(D3, _fill(D3, "A/BRL", "sell", "0.1", 60.0, 600, 4))
    assert book.holdings().rows() == [("A/BRL", Decimal("0.1"), 505)]
    assert book.totals().realized == 92 and book.totals().holds
    assert book.cash_centavos() == 5_000 - 1_007 - 2 + 600 - 4  # 4587; 5000 + 92 = 4587 + 505


def test_delisting_exit_closes_the_position(book: Ledger) -> None:
    book.contribute(D1, 10_000)
    book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.5", 99.30, 4_965, 35))
    # exit all 0.5 at the last close R$110: proceeds 5500, fee 38.5 -> 38 (half-even); realized 5500 - 38 - 5000 = 462
    book.record_exits(D3, _exit(D3, "A/BRL", "0.5", 110.0, 5_500, 38, 4_965))
    assert book.holdings().is_empty()
    assert book.cash_centavos() == 5_000 + 5_500 - 38
    t = book.totals()
    assert (t.realized, t.fees, t.cost) == (462, 73, 0) and t.holds  # 10000 + 462 = cash 10462 + cost 0


def test_write_off_exit_realizes_the_whole_cost_as_a_loss(book: Ledger) -> None:
    book.contribute(D1, 10_000)
    book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.5", 99.30, 4_965, 35))
    book.record_exits(D3, _exit(D3, "A/BRL", "0.5", 0.0, 0, 0, 4_965))
    t = book.totals()
    assert book.cash_centavos() == 5_000 and (t.realized, t.cost) == (-5_000, 0) and t.holds


def test_event_ledger_appends_nothing_new_on_a_repeat() -> None:
    book = EventLedger(warehouse_path())
    for _ in range(2):
        book.contribute(D1, 10_000)
        book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.5", 99.30, 4_965, 35))
    assert book.cash_centavos() == 5_000 and book.holdings().rows() == [("A/BRL", Decimal("0.5"), 5_000)]


def test_memory_ledger_refuses_to_overspend_or_oversell() -> None:
    book = MemoryLedger()
    book.contribute(D1, 1_000)
    with pytest.raises(ValueError, match="exceeds the cash"):
        book.record_fills(D1, _fill(D1, "A/BRL", "buy", "0.1", 100.0, 1_000, 7))
    with pytest.raises(ValueError, match="exceeds the 0 held"):
        book.record_fills(D1, _fill(D1, "A/BRL", "sell", "0.1", 100.0, 1_000, 7))
