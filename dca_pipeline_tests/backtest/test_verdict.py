"""The verdict's pieces on synthetic frames, checked by hand, and the table/sentence rendering."""
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.verdict import (
    WindowVerdict,
    best_coin,
    coin_contributions,
    coverage_table,
    curve_equity,
    survivorship_bounds,
    to_usd,
    two_largest_share,
    verdict_markdown,
    verdict_report,
    verdict_sentence,
    window_verdict,
    without_coin,
)
from dca_pipeline.config import load_settings

D = [date(2024, 1, 1) + timedelta(days=i) for i in range(3)]


def test_curve_equity_chains_the_time_weighted_return_by_hand() -> None:
    e = curve_equity(D, [1.0, 2.0, 3.0], [1.0, 2.2, 3.3])
    # r0 = 1/(0+1) - 1 = 0; r1 = 2.2/(1+1) - 1 = 0.1; r2 = 3.3/(2.2+1) - 1 = 0.03125
    assert e["daily_return"].to_list() == pytest.approx([0.0, 0.1, 0.03125])
    assert e["twr"][-1] == pytest.approx(1.1 * 1.03125 - 1)
    assert e["contribution_brl"].to_list() == [1.0, 1.0, 1.0]
    late = curve_equity(D, [1.0, 2.0, 3.0], [None, 2.0, 3.0])  # no value on day 0: starts on day 1 with 2 invested
    assert late["date"].to_list() == D[1:] and late["daily_return"].to_list() == pytest.approx([0.0, 0.0])


def test_usd_view_converts_each_contribution_on_its_day() -> None:
    e = curve_equity(D[:2], [5.0, 10.0], [5.0, 12.0])  # BRL: +R$5 a day, day 1 worth 12
    fx = pl.DataFrame({"date": D[:2], "usd_brl": [5.0, 4.0]})
    u = to_usd(e, fx)
    # USD: invested 1 + 1.25 = 2.25; values 1.0 and 3.0; r1 = 3 / (1 + 1.25) - 1
    assert u["invested_brl"].to_list() == pytest.approx([1.0, 2.25])
    assert u["value_brl"].to_list() == pytest.approx([1.0, 3.0])
    assert u["daily_return"][-1] == pytest.approx(3 / 2.25 - 1)
    with pytest.raises(ValueError, match="no USD/BRL rate for 1 days"):
        to_usd(e, fx.head(1))


FILLS = pl.DataFrame({"symbol": ["A/BRL", "A/BRL", "B/BRL", "C/BRL"], "quantity": [Decimal("1"), Decimal("1"), Decimal("10"), Decimal("5")],
                      "amount_centavos": [10_000, 10_000, 5_000, 5_000]})
EXITS = pl.DataFrame({"symbol": ["C/BRL"], "quantity": [Decimal("5")], "proceeds_centavos": [1_000], "fee_centavos": [10]})


def test_coin_contributions_concentration_and_best_coin_by_hand() -> None:
    c = coin_contributions(FILLS, EXITS, {"A/BRL": 300.0, "B/BRL": 2.0, "C/BRL": 0.5})
    got = {r["symbol"]: (r["held_value_brl"], r["pnl_brl"]) for r in c.iter_rows(named=True)}
    # A: 2 held × 300 = 600, paid 200 -> +400; B: 10 × 2 = 20, paid 50 -> -30; C: exited for 10 - 0.10, paid 50 -> -40.10
    assert got == {"A/BRL": pytest.approx((600.0, 400.0)), "B/BRL": pytest.approx((20.0, -30.0)), "C/BRL": pytest.approx((0.0, -40.1))}
    assert best_coin(c) == "A/BRL"
    share, top = two_largest_share(c, 700.0)  # 600 + 20 of a R$700 portfolio (R$80 cash)
    assert share == pytest.approx(620 / 700) and top == ["A/BRL", "B/BRL"]
    s = without_coin(load_settings(), "A/BRL")
    assert s.excluded_bases[-1] == "A" and s.excluded_bases[:-1] == load_settings().excluded_bases


def test_coverage_table_by_count_and_market_cap() -> None:
    snaps = pl.DataFrame({"snapshot_date": [date(2024, 1, 1)] * 4, "rank": [1, 2, 3, 4], "base": ["BTC", "USDT", "X", "Y"],
                          "market_cap_usd": [100.0, 50.0, 30.0, 10.0]})
    bars = pl.DataFrame({"symbol": ["BTC/BRL", "X/BRL"], "date": [date(2024, 1, 31)] * 2, "close": [1.0, 1.0]})
    t = coverage_table(snaps, bars, [date(2024, 2, 1)], 2, 4, ("USDT",))
    row = t.row(0, named=True)
    assert (row["members"], row["with_bars"], row["without_bars"]) == (2, 1, 1)  # X has bars, Y not; USDT excluded
    assert row["mcap_covered"] == pytest.approx(30 / 40) and row["missing"] == "Y"
    assert coverage_table(snaps, bars, [date(2023, 12, 1)], 2, 4).is_empty()  # no snapshot yet: no row


def test_survivorship_bounds_rows() -> None:
    t = survivorship_bounds({"last_price": ({"final_value_brl": 100.0, "twr": 0.1}, EXITS),
                             "write_off": ({"final_value_brl": 90.0, "twr": 0.0}, EXITS.clear())})
    assert t["positions_touched"].to_list() == [1, 0] and t["symbols"].to_list() == ["C/BRL", ""]


def _metrics(sharpe: float, dd: float) -> dict[str, float]:
    return {"cagr": 0.1, "volatility": 0.5, "sharpe": sharpe, "max_drawdown": dd, "final_value_brl": 1500.0,
            "invested_brl": 1000.0, "final_over_invested": 1.5}


def test_verdict_table_and_sentence_render() -> None:
    w = WindowVerdict("out of sample", date(2022, 1, 1), date(2025, 10, 31),
                      {"strategy": _metrics(0.30, -0.70), "BTC-only DCA": _metrics(0.60, -0.50), "CDI": _metrics(0.0, 0.0)},
                      top_two_share=0.42, top_two=["A/BRL", "B/BRL"], best_coin="A/BRL",
                      without_best={**_metrics(0.1, -0.8), "final_value_brl": 900.0}, risk_free_note="risk-free: CDI average 11.00%")
    md = verdict_markdown(w)
    assert "| strategy | 10.0% | 50.0% | 0.30 | -70.0% | 1,500 / 1,000 (×1.50) | 42.0% (A, B) | without A: 900 vs 1,000" in md
    assert "| top-20 mcap DCA (cap-weighted) | n/a |" in md  # a curve without data is shown as n/a, not dropped
    assert verdict_sentence(w) == ("out of sample (2022-01-01 → 2025-10-31): the strategy did NOT beat BTC-only DCA, neither on "
                                   "Sharpe nor on drawdown (Sharpe 0.30 vs 0.60, max drawdown -70.0% vs -50.0%).")
    w.rows["strategy"] = _metrics(0.9, -0.6)
    assert "beat BTC-only DCA on Sharpe but NOT on drawdown" in verdict_sentence(w)
    w.rows["strategy"] = _metrics(0.9, -0.4)
    assert "beat BTC-only DCA on both Sharpe and drawdown" in verdict_sentence(w)
    report = verdict_report([w], "abc123", "python scripts/verdict.py")
    assert report.startswith("Generated by `python scripts/verdict.py` with the default configuration, sha256 `abc123`")


# --- window_verdict end to end on a fake backtest and a fake source -----------------------------------------------


@dataclass
class _Result:
    equity: pl.DataFrame
    targets: pl.DataFrame
    fills: pl.DataFrame
    liquidations: pl.DataFrame


class _Source:
    """BTC and ETH at constant BRL prices; USD/BRL 5."""

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        days = pl.date_range(start, end, "1d", eager=True)
        return pl.concat([pl.DataFrame({"symbol": s, "date": days, "open": p, "high": p, "low": p, "close": p,
                                        "volume": 1.0, "volume_brl": 1e6}) for s, p in (("BTC/BRL", 100.0), ("ETH/BRL", 10.0))])

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        return pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True), "usd_brl": 5.0})


def test_window_verdict_runs_through_a_backtest_function_and_reruns_without_the_best_coin() -> None:
    calls = []
    start, end = date(2021, 1, 1), date(2021, 1, 31)  # R$1000 in January: R$32.25.. a day, sums to 1000

    def fake_run(settings, s, e, source=None, progress=None):  # noqa: ANN001, ANN202
        calls.append(settings.excluded_bases)
        days = [s + timedelta(days=i) for i in range((e - s).days + 1)]
        inv = [1000 * (i + 1) / len(days) for i in range(len(days))]
        eq = pl.DataFrame({"date": days, "invested_brl": inv, "value_brl": inv})  # flat: all cash, no gain
        fills = pl.DataFrame({"symbol": ["ETH/BRL"], "quantity": [Decimal(1)], "amount_centavos": [1_000]})
        return _Result(eq, pl.DataFrame({"month": [s], "symbol": ["ETH/BRL"], "weight": [1.0]}), fills, pl.DataFrame())

    w, _ = window_verdict(load_settings(), "test", start, end, run=fake_run, source=_Source())
    assert calls == [load_settings().excluded_bases, (*load_settings().excluded_bases, "ETH")]
    assert w.best_coin == "ETH/BRL"
    btc = w.rows["BTC-only DCA"]
    assert btc["invested_brl"] == pytest.approx(1000.0)
    assert btc["final_value_brl"] == pytest.approx(993.0, abs=0.02)  # constant price, 0.7% taker fee on every slice
    assert w.rows["strategy"]["twr"] == pytest.approx(0.0, abs=1e-12)
    assert w.rows_usd["strategy"]["final_value_brl"] == pytest.approx(200.0)  # R$1000 at 5 BRL/USD
    md = verdict_markdown(w)
    assert "| BTC-only DCA |" in md and "| equal-weight DCA (same universe) |" in md


def test_readme_block_is_replaced_between_the_markers() -> None:
    from dca_pipeline.backtest.verdict import replace_block

    text = "intro\n<!-- verdict:start -->\nold table\n<!-- verdict:end -->\nrest\n"
    assert replace_block(text, "new table\n") == "intro\n<!-- verdict:start -->\nnew table\n<!-- verdict:end -->\nrest\n"
    with pytest.raises(ValueError, match="no <!-- verdict:start -->"):
        replace_block("no markers", "x")


def test_coverage_note_and_tier_band() -> None:
    from dca_pipeline.backtest.verdict import coverage_note, tier_band

    t = pl.DataFrame({"month": [date(2022, 4, 1), date(2022, 5, 1)], "members": [50, 50], "with_bars": [40, 30],
                      "mcap_covered": [0.9, 0.5]})
    assert coverage_note(t) == ("coverage of the tiers' rank band: on average 35 of 50 members had daily bars (70% of the "
                                "band's market cap); least covered 2022-05: 30/50 (50%)")
    assert tier_band(load_settings()) == (11, 60)
