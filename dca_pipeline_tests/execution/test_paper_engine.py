"""The paper broker the execution assets use (wiring.make_broker): the stored order book where one exists in the
execution window, bars with `execution.model` elsewhere. Figures by hand."""
from datetime import date, datetime, timezone
from decimal import Decimal

import polars as pl

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.execution.paper_book_broker import books_from_snapshots
from dca_pipeline.execution.wiring import make_broker
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import parquet_store

DAY, NEXT = date(2021, 3, 10), date(2021, 3, 11)
T0 = datetime(2021, 3, 11, 0, 5, tzinfo=timezone.utc)
NEXT_BARS = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "date": [NEXT, NEXT], "open": [100.0, 10.0], "high": [101.0, 10.5],
                          "low": [99.0, 9.0], "close": [100.5, 10.2], "volume": [1e6, 1e6]})


def _store_book() -> None:
    rows = [("A/BRL", NEXT, T0, "bid", 0, 99.0, 5.0), ("A/BRL", NEXT, T0, "ask", 0, 100.0, 0.1), ("A/BRL", NEXT, T0, "ask", 1, 101.0, 0.1),
            # a later snapshot of the same window is not used: the first one is
            ("A/BRL", NEXT, datetime(2021, 3, 11, 1, tzinfo=timezone.utc), "ask", 0, 50.0, 100.0)]
    frame = pl.DataFrame(rows, schema=parquet_store.SCHEMAS["order_book"], orient="row")
    parquet_store.write_partition("order_book", NEXT, frame)


def test_the_book_where_stored_bars_elsewhere() -> None:
    _store_book()
    settings = override(load_settings(), "slippage_bps", "0")
    broker, approval = make_broker(type("R", (), {"mode": "paper", "api_url": ""})(), settings, NEXT_BARS, warehouse_path())
    assert approval == "auto"
    a = broker.place(OrderIntent(DAY, "dca-a", "A/BRL", "buy", 5_000, None, 100.0))
    # the first snapshot's asks: 0.1 at 100 (R$10.00 + 7c) and 0.1 at 101 (R$10.10 + 7c), then the book is empty
    assert [(f.quantity, f.price, f.notional_centavos, f.fee_centavos, f.liquidity) for f in a.fills] == [
        (Decimal("0.1"), Decimal("100.0"), 1000, 7, "taker"), (Decimal("0.1"), Decimal("101.0"), 1010, 7, "taker")]
    assert a.status == "expired" and "thin" in a.reason
    b = broker.place(OrderIntent(DAY, "dca-b", "B/BRL", "buy", 1_000, None, 10.0))
    # no book for B: the next open 10.00, taker fee 7c, floor(9.93 / 10, 1e-8)
    assert [(f.quantity, f.price, f.fee_centavos) for f in b.fills] == [(Decimal("0.993"), Decimal("10.0"), 7)]


def test_maker_first_rests_at_the_books_bid_and_fills_from_the_tape() -> None:
    _store_book()
    trades = pl.DataFrame([("A/BRL", NEXT, datetime(2021, 3, 11, 3, tzinfo=timezone.utc), "t1", "sell", 99.0, 0.05)],
                          schema=parquet_store.SCHEMAS["trades"], orient="row")
    parquet_store.write_partition("trades", NEXT, trades)
    settings = override(load_settings(), "execution.model", "maker_first")
    broker, _ = make_broker(type("R", (), {"mode": "paper", "api_url": ""})(), settings, NEXT_BARS, warehouse_path())
    r = broker.place(OrderIntent(DAY, "dca-a", "A/BRL", "buy", 1_000, None, 100.0))
    # 0.05 traded at the bid 99 → a maker fill (R$4.95, fee 0.3% = 1.485 → 1c), the rest walks the asks at 100
    assert (r.fills[0].liquidity, r.fills[0].price, r.fills[0].quantity, r.fills[0].fee_centavos) == ("maker", Decimal("99.0"), Decimal("0.05"), 1)
    assert r.fills[1].liquidity == "taker" and r.fills[1].price == Decimal("100.0")
    assert r.status == "filled"


def test_books_outside_the_window_are_ignored() -> None:
    levels = pl.DataFrame([("A/BRL", NEXT, T0, "ask", 0, 100.0, 1.0)], schema=parquet_store.SCHEMAS["order_book"], orient="row")
    later = datetime(2021, 3, 12, tzinfo=timezone.utc)
    assert books_from_snapshots(levels, pl.DataFrame(), later, datetime(2021, 3, 13, tzinfo=timezone.utc)) == {}
    assert set(books_from_snapshots(levels, pl.DataFrame(), datetime(2021, 3, 11, tzinfo=timezone.utc), later)) == {"A/BRL"}
