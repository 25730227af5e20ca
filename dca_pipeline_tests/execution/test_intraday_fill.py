"""Intraday execution models (execution/intraday_fill.py) and implementation shortfall (tca.py), figures by hand.

Fees: taker 0.7%, maker 0.3%; a slice's fee is 0.7% of its centavos, half-even (money.fee_centavos)."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import ConfigError, load_settings
from dca_pipeline.execution.day import MARKET_SCHEMA, MarketView, simulate_day
from dca_pipeline.execution.intraday_fill import ExecutionParams, derived_hours, execute_orders
from dca_pipeline.execution.ledger_protocol import MemoryLedger
from dca_pipeline.execution.tca import implementation_shortfall, shortfall_summary

DAY = date(2021, 3, 10)
NEXT = datetime(2021, 3, 11, tzinfo=timezone.utc)
ORDER_SCHEMA = {"date": pl.Date, "client_order_id": pl.String, "symbol": pl.String, "side": pl.String,
                "amount_centavos": pl.Int64, "quantity": pl.Decimal(38, 8), "ref_price_brl": pl.Float64}


def _orders(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([(DAY, *r) for r in rows], schema=ORDER_SCHEMA, orient="row")


def _hours(symbol: str, opens: list[float], lows: list[float] | None = None, highs: list[float] | None = None,
           closes: list[float] | None = None) -> pl.DataFrame:
    n = len(opens)
    return pl.DataFrame({"symbol": [symbol] * n, "ts": [NEXT + timedelta(hours=h) for h in range(n)], "open": opens,
                         "high": highs or opens, "low": lows or opens, "close": closes or opens},
                        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "open": pl.Float64,
                                "high": pl.Float64, "low": pl.Float64, "close": pl.Float64})


NEXT_BAR = pl.DataFrame({"symbol": ["A/BRL"], "open": [100.0], "high": [120.0], "low": [90.0], "close": [110.0]})


def _params(model: str, **kw) -> ExecutionParams:  # noqa: ANN003
    base = {"taker_fee": Decimal("0.007"), "maker_fee": Decimal("0.003"), "slippage_bps": 0.0, "bar_spread_bps": 20.0,
            "window_hours": 24, "min_slice_centavos": 1000}
    return ExecutionParams(model, **{**base, **kw})  # type: ignore[arg-type]


def test_derived_hours_walk_open_low_high_close_on_an_up_day() -> None:
    h = derived_hours(NEXT_BAR, date(2021, 3, 11))
    assert len(h) == 24 and h["ts"][0] == NEXT and h["ts"][-1] == NEXT + timedelta(hours=23)
    # 100 → 90 over hours 0-8 (−1.25/h), 90 → 120 over 8-16 (+3.75/h), 120 → 110 over 16-24 (−1.25/h)
    assert h["open"].to_list()[:3] == pytest.approx([100.0, 98.75, 97.5])
    assert h["open"][8] == pytest.approx(90.0) and h["open"][16] == pytest.approx(120.0)
    assert h["close"][-1] == pytest.approx(110.0)
    assert min(h["low"]) == pytest.approx(90.0) and max(h["high"]) == pytest.approx(120.0)
    down = derived_hours(NEXT_BAR.with_columns(pl.lit(95.0).alias("close")), date(2021, 3, 11))
    assert down["open"][8] == pytest.approx(120.0) and down["open"][16] == pytest.approx(90.0)  # high first on a down day


def test_twap_buys_equal_slices_at_the_mean_of_their_hours() -> None:
    # R$30.00 with a R$10 minimum slice: 3 slices of 1000 centavos, owning hours 0-7, 8-15 and 16-23; each hour's
    # mean is (open + close) / 2, so the slices trade at 100, 80 and 125 (the 99/101 pairs average to 100)
    opens = [99.0, 101.0] * 4 + [80.0] * 8 + [125.0] * 8
    closes = [101.0, 99.0] * 4 + [80.0] * 8 + [125.0] * 8
    fills, status = execute_orders(_orders(("o1", "A/BRL", "buy", 3000, None, 100.0)), NEXT_BAR, _params("twap"),
                                   _hours("A/BRL", opens, closes=closes))
    f = fills.row(0, named=True)
    # each slice: fee 7, notional 993 → 9.93/100 = 0.0993, 9.93/80 = 0.124125, 9.93/125 = 0.07944
    assert status == {"o1": "filled"}
    assert f["quantity"] == Decimal("0.0993") + Decimal("0.124125") + Decimal("0.07944")
    assert (f["notional_centavos"], f["fee_centavos"], f["amount_centavos"]) == (2979, 21, 3000)
    assert (f["slices"], f["liquidity"], f["hours"]) == (3, "taker", "stored")
    assert f["filled_at"] == NEXT + timedelta(hours=24)
    # 24 slices when the amount allows: R$240 in R$10 slices, one per hour, each at that hour's mean
    many, _ = execute_orders(_orders(("o2", "A/BRL", "buy", 24_000, None, 100.0)), NEXT_BAR, _params("twap"),
                             _hours("A/BRL", opens, closes=closes))
    assert many["slices"][0] == 24 and many["quantity"][0] == 8 * Decimal("0.0993") + 8 * Decimal("0.124125") + 8 * Decimal("0.07944")


def test_twap_sells_the_quantity_in_equal_parts() -> None:
    # 0.3 held at R$100 ≈ R$30 → 3 slices of 0.1 at opens 100, 80, 125 (slippage 0): notionals 1000, 800, 1250
    opens = [100.0] * 8 + [80.0] * 8 + [125.0] * 8
    fills, _ = execute_orders(_orders(("s1", "A/BRL", "sell", 0, Decimal("0.3"), 100.0)), NEXT_BAR, _params("twap"),
                              _hours("A/BRL", opens))
    f = fills.row(0, named=True)
    assert f["quantity"] == Decimal("0.3") and f["notional_centavos"] == 3050
    assert f["fee_centavos"] == 7 + 6 + 9  # 7.0, 5.6 → 6, 8.75 → 9


def test_maker_first_fills_at_the_bid_when_a_low_trades_through() -> None:
    # best bid = first open 100 less half of 20 bps = 99.90; hour 2's low 99.80 < 99.90 → maker fill at 99.90
    lows = [100.0, 99.95, 99.8] + [100.0] * 21
    fills, _ = execute_orders(_orders(("o1", "A/BRL", "buy", 1000, None, 100.0)), NEXT_BAR, _params("maker_first"),
                              _hours("A/BRL", [100.0] * 24, lows=lows))
    f = fills.row(0, named=True)
    # fee 0.3% of 1000 = 3, notional 997, quantity floor(9.97 / 99.9, 1e-8) = 0.09979979
    assert (f["liquidity"], f["price_brl"] >= 99.9 - 1e-9, f["fee_centavos"], f["notional_centavos"]) == ("maker", True, 3, 997)
    assert f["quantity"] == Decimal("0.09979979")
    assert f["filled_at"] == NEXT + timedelta(hours=3)


def test_maker_first_goes_to_market_at_the_window_end_otherwise() -> None:
    # lows touch 99.90 but never trade through it: taker at the last close 104 × (1 + 10 bps)
    lows = [99.9] * 24
    closes = [100.0] * 23 + [104.0]
    fills, _ = execute_orders(_orders(("o1", "A/BRL", "buy", 1000, None, 100.0)), NEXT_BAR,
                              _params("maker_first", slippage_bps=10.0), _hours("A/BRL", [100.0] * 24, lows=lows, closes=closes))
    f = fills.row(0, named=True)
    assert f["liquidity"] == "taker" and f["fee_centavos"] == 7 and f["notional_centavos"] == 993
    assert f["quantity"] == Decimal("0.09538538")  # floor(9.93 / 104.104 = 0.0953853838…)
    assert f["filled_at"] == NEXT + timedelta(hours=24)


def test_without_stored_hours_they_are_derived_and_without_a_next_bar_the_order_expires() -> None:
    orders = _orders(("o1", "A/BRL", "buy", 1000, None, 100.0), ("o2", "B/BRL", "buy", 1000, None, 10.0))
    fills, status = execute_orders(orders, NEXT_BAR, _params("maker_first"))
    assert status == {"o1": "filled", "o2": "expired"}
    # derived lows reach the day's low 90 < 99.90: a maker fill
    assert fills.row(0, named=True)["hours"] == "derived" and fills.row(0, named=True)["liquidity"] == "maker"


def test_market_open_is_the_daily_paper_fill() -> None:
    fills, _ = execute_orders(_orders(("o1", "A/BRL", "buy", 1000, None, 100.0)), NEXT_BAR, _params("market_open", slippage_bps=10.0))
    f = fills.row(0, named=True)
    assert f["price_brl"] == pytest.approx(100.1) and f["quantity"] == Decimal("0.09920079")  # floor(9.93 / 100.1)


def test_implementation_shortfall_against_the_decision_price() -> None:
    orders = _orders(("o1", "A/BRL", "buy", 1000, None, 100.0), ("s1", "A/BRL", "sell", 0, Decimal("0.1"), 100.0))
    fills = pl.DataFrame({"client_order_id": ["o1", "s1"], "quantity": [Decimal("0.0993"), Decimal("0.1")],
                          "notional_centavos": [993, 1010], "fee_centavos": [7, 7]},
                         schema={"client_order_id": pl.String, "quantity": pl.Decimal(38, 8), "notional_centavos": pl.Int64,
                                 "fee_centavos": pl.Int64})
    t = implementation_shortfall(orders, fills, "twap")
    buy, sell = t.row(0, named=True), t.row(1, named=True)
    # buy: paid 1000 for 0.0993 worth 993 at the decision price → 7 centavos, 7/993 = 70.49 bps
    assert buy["shortfall_centavos"] == 7 and buy["shortfall_bps"] == pytest.approx(7 / 993 * 1e4)
    # sell: 0.1 worth 1000 at decision, received 1010 − 7 = 1003 → −3 centavos (better than decision)
    assert sell["shortfall_centavos"] == -3 and sell["shortfall_bps"] == pytest.approx(-30.0)
    s = shortfall_summary(t).row(0, named=True)
    assert s["orders"] == 2 and s["shortfall_brl"] == pytest.approx(0.04) and s["shortfall_bps"] == pytest.approx(4 / 1993 * 1e4)


def test_the_day_path_books_the_configured_model() -> None:
    s = override(override(override(load_settings(), "budget_brl_per_month", "3100.00"), "execution.max_volume_share", "null"),
                 "execution.model", "maker_first")
    market = MarketView(pl.DataFrame([("A/BRL", DAY, 100.0, 1e9)], schema=MARKET_SCHEMA, orient="row"))
    book = MemoryLedger()
    plan, fills, status = simulate_day(DAY, book, market, NEXT_BAR, pl.DataFrame({"symbol": ["A/BRL"], "weight": [1.0]}), s)
    f = fills.row(0, named=True)
    # R$100 slice; bid = 100 × (1 − 5 bps) = 99.95 and the derived low 90 trades through it: maker fee 0.3% = 30
    assert f["liquidity"] == "maker" and f["fee_centavos"] == 30 and f["price_brl"] == pytest.approx(99.95)
    assert book.cash_centavos() == 0 and book.totals().holds


def test_an_unknown_execution_model_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="execution.model"):
        override(load_settings(), "execution.model", "vwap")


def test_the_maker_first_flag_switches_the_paper_and_backtest_model_too() -> None:
    from dca_pipeline.config import resolve_flags

    on = resolve_flags(override(load_settings(), "flags.maker_first", "true"))
    assert on.execution.model == "maker_first" and on.execution.order_style == "limit_then_market"
    twap = override(override(load_settings(), "execution.model", "twap"), "flags.maker_first", "false")
    assert resolve_flags(twap).execution.model == "twap"  # false only turns maker_first off
    off = override(override(load_settings(), "execution.model", "maker_first"), "flags.maker_first", "false")
    assert resolve_flags(off).execution.model == "market_open"
