"""The backtest with `execution.model` twap / maker_first: same day path, and its implementation shortfall against
next-open market orders for the same orders, checked against the bundled bars independently."""
from datetime import date, timedelta

import polars as pl
import pytest

from dca_pipeline.backtest import run_backtest
from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.sources import ReplaySource

START, END = date(2022, 1, 1), date(2022, 1, 31)


@pytest.fixture(scope="module")
def runs():  # noqa: ANN201
    s = load_settings()
    return {m: run_backtest(override(s, "execution.model", m), START, END) for m in ("market_open", "maker_first", "twap")}


def test_maker_first_fills_follow_the_next_days_low(runs) -> None:  # noqa: ANN001
    r = runs["maker_first"]
    bars = ReplaySource().fetch_ohlcv_1d(START, END + timedelta(days=1)).select("symbol", "date", "open", "low")
    f = r.fills.with_columns((pl.col("date") + timedelta(days=1)).alias("next")).join(
        bars, left_on=["symbol", "next"], right_on=["symbol", "date"])
    assert len(f) == len(r.fills) > 0
    limit = f["open"] * (1 - 10 / 2 / 10_000)  # default bar_spread_bps 10: the bid is the open less 5 bps
    maker = f["liquidity"] == "maker"
    assert ((f["low"] < limit) == maker).all()  # maker exactly when the day's low traded through the bid
    assert (f.filter(maker)["price_brl"] - limit.filter(maker)).abs().max() < 1e-9 * f["open"].max()
    assert r.metrics["ledger_reconciles"] == 1.0


def test_shortfall_of_each_model_against_next_open_market_orders(runs) -> None:  # noqa: ANN001
    base = runs["market_open"]
    assert set(base.tca["model"]) == {"market_open"} and base.metrics["shortfall_vs_market_open_bps"] == 0.0
    first_day = base.tca.filter(pl.col("date") == START).sort("client_order_id")
    for model in ("maker_first", "twap"):
        r = runs[model]
        assert set(r.tca["model"]) == {model, "market_open"}
        mine, market = r.tca.filter(pl.col("model") == model), r.tca.filter(pl.col("model") == "market_open")
        assert sorted(mine["client_order_id"]) == sorted(market["client_order_id"])  # the same orders, two ways
        # the comparison on the first day is exactly what the market_open backtest booked (same book before it)
        assert market.filter(pl.col("date") == START).sort("client_order_id").drop("model").equals(first_day.drop("model"))
        # metrics = Σ shortfall / Σ value at the decision price, recomputed here
        for name, t in ((f"shortfall_bps", mine), ("shortfall_market_open_bps", market)):
            value = (t["filled_quantity"].cast(pl.Float64) * t["decision_price"]).sum()
            assert r.metrics[name] == pytest.approx(t["shortfall_centavos"].sum() / 100 / value * 10_000)
        assert r.metrics["shortfall_vs_market_open_bps"] == pytest.approx(r.metrics["shortfall_bps"] - r.metrics["shortfall_market_open_bps"])
    # maker_first pays the 0.3% maker fee instead of 0.7% on its maker fills: its fees are lower
    assert runs["maker_first"].metrics["total_fees_brl"] < runs["market_open"].metrics["total_fees_brl"]


def test_the_tearsheet_shows_the_shortfall_of_both_models(runs, tmp_path) -> None:  # noqa: ANN001
    from dca_pipeline.backtest.report import write_tearsheet

    r = runs["twap"]
    text = write_tearsheet(r, tmp_path / "t.html", "twap").read_text()
    section = text.split("Implementation shortfall against the decision price")[1].split("<h2>")[0]
    for model in ("twap", "market_open"):
        bps = r.metrics["shortfall_bps" if model == "twap" else "shortfall_market_open_bps"]
        assert f"<td>{model}</td>" in section and f"<td>{bps:.1f}</td>" in section
