"""The backtester: ledger identity, an independent BTC-DCA check to the centavo, no look-ahead, the CLI."""
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.backtest import run_backtest
from dca_pipeline.backtest.metrics import irr
from dca_pipeline.cli import main as cli_main
from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.money import daily_contribution_centavos

START, END = date(2019, 1, 1), date(2022, 1, 31)


@pytest.fixture(scope="module")
def three_years():  # noqa: ANN201
    return run_backtest(load_settings(), START, END)


def test_three_year_backtest_completes_and_reconciles(three_years) -> None:  # noqa: ANN001
    r = three_years
    assert r.equity["date"].to_list() == [START + timedelta(days=i) for i in range((END - START).days + 1)]
    assert r.metrics["ledger_reconciles"] == 1.0
    assert float(r.equity["invested_brl"][-1]) == 37 * 1000  # 37 months of R$1000, slices add up exactly
    # headline metrics recomputed independently from the equity curve with numpy
    import math

    import numpy as np

    twr = 1 + r.equity["twr"].to_numpy()
    rets = r.equity["daily_return"].drop_nulls().to_numpy()
    days = len(r.equity)
    assert r.metrics["cagr"] == pytest.approx(twr[-1] ** (365 / days) - 1, rel=1e-9)
    assert r.metrics["volatility"] == pytest.approx(np.std(rets, ddof=1) * math.sqrt(365), rel=1e-9)
    assert r.metrics["max_drawdown"] == pytest.approx(float(np.min(twr / np.maximum.accumulate(twr) - 1)), abs=1e-9)
    assert -1 < r.metrics["max_drawdown"] < 0 and math.isfinite(r.metrics["sharpe"])
    flows = [(d, -float(c)) for d, c in zip(r.equity["date"], r.equity["contribution_brl"]) if c]
    flows.append((r.equity["date"][-1], float(r.equity["value_brl"][-1])))
    npv = sum(f * (1 + r.metrics["irr"]) ** (-(d - flows[0][0]).days / 365) for d, f in flows)
    assert abs(npv) < 1e-3 * 37_000  # the IRR zeroes the net present value of the flows
    assert r.metrics["total_fees_brl"] == pytest.approx(float(r.fills["fee_brl"].sum()) + float(sum(r.liquidations["fee_centavos"]) / 100 if len(r.liquidations) else 0))
    assert (r.fills["amount_centavos"] >= 1000).all()


def test_btc_dca_benchmark_matches_an_independent_calculation(three_years) -> None:  # noqa: ANN001
    bars = ReplaySource().fetch_ohlcv_1d(START, END).filter(pl.col("symbol") == "BTC/BRL")
    close = dict(zip(bars["date"], bars["close"]))
    qty, day = Decimal(0), START
    while day <= END:
        slice_brl = Decimal(daily_contribution_centavos(100_000, day)) / 100
        qty += slice_brl * Decimal("0.993") / Decimal(repr(close[day]))
        day += timedelta(days=1)
    expected = (qty * Decimal(repr(close[END]))).quantize(Decimal("0.01"))
    assert three_years.benchmarks["btc_dca_brl"][-1] == expected


def test_irr_by_hand() -> None:
    # pay 100 today, receive 110 in exactly one year: 10%
    assert irr([(date(2021, 1, 1), -100.0), (date(2022, 1, 1), 110.0)]) == pytest.approx(0.10, abs=1e-9)


class _FutureShock(ReplaySource):
    """The real history, but every bar after `cutoff` is multiplied by 10."""

    def __init__(self, cutoff: date) -> None:
        self.cutoff = cutoff

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        shocked = pl.col("date") > self.cutoff
        return bars.with_columns(*[pl.when(shocked).then(pl.col(c) * 10).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")])


def test_no_look_ahead_in_the_backtest() -> None:
    settings = load_settings()
    cutoff = date(2020, 7, 15)
    base = run_backtest(settings, date(2020, 6, 1), date(2020, 8, 31))
    shocked = run_backtest(settings, date(2020, 6, 1), date(2020, 8, 31), source=_FutureShock(cutoff))
    decided = lambda r: r.orders.filter(pl.col("date") <= cutoff).select("date", "symbol", "amount_centavos")  # noqa: E731
    assert decided(base).rows() == decided(shocked).rows()  # every order decided on or before the cutoff
    valued = lambda r: r.equity.filter(pl.col("date") < cutoff)  # noqa: E731 - day D's fills use D+1's open
    assert valued(base).rows() == valued(shocked).rows()
    decided_targets = lambda r: r.targets.filter(pl.col("month") <= date(2020, 7, 1))  # noqa: E731
    cols = ["month", "symbol", "tier", "weight", "cap"]
    assert decided_targets(base).select(cols).rows() == decided_targets(shocked).select(cols).rows()
    # scores agree to float round-off (the shocked run sums a longer, different column)
    assert decided_targets(base)["score"].to_list() == pytest.approx(decided_targets(shocked)["score"].to_list(), abs=1e-12)
    assert base.equity["value_brl"][-1] != shocked.equity["value_brl"][-1]  # the shock is real


def test_cli_writes_a_tearsheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert cli_main(["backtest", "--start", "2021-01-01", "--end", "2021-02-28", "--out", str(out), "--attribution"]) == 0
    text = out.read_text()
    assert "data:image/png;base64," in text and "cagr" in text and "BTC-only DCA" in text and "Ibovespa DCA" in text
    assert "Market regime timeline" in text and "2021-01" in text and "selection_brl" in text
    assert "Calendar-year returns" in text and "<th>2021 (59 days)</th>" in text
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert "irr" in captured.out and "tearsheet:" in captured.out and f"tearsheet image: {out.with_suffix('.png')}" in captured.out
    assert "2/2 [" in captured.err and "100%" in captured.err  # the progress bar over the two months reached its end
    assert cli_main(["backtest", "--start", "2021-02-01", "--end", "2021-01-01"]) == 2


def test_backtest_report_asset_attaches_summary_and_tearsheet() -> None:
    from dagster import materialize

    from dca_pipeline.monitoring.assets import backtest_report
    from dca_pipeline.paths import dca_home
    from dca_pipeline.resources import PipelineConfig
    from dca_pipeline.storage.resources import Warehouse

    result = materialize(
        [backtest_report],
        resources={"pipeline_config": PipelineConfig(), "warehouse": Warehouse()},
        run_config={"ops": {"backtest_report": {"config": {"start": "2021-01-01", "end": "2021-01-31", "regime_timeline": False,
                                                           "overrides": ["portfolio.objective=max_sharpe"]}}}},
    )
    meta = result.asset_materializations_for_node("backtest_report")[0].metadata
    assert "| irr |" in meta["summary"].value and "btc_dca_value_brl" in meta["summary"].value
    assert Path(meta["tearsheet"].value).exists() and Path(meta["tearsheet"].value).parent == dca_home() / "reports"
    png = Path(meta["tearsheet_png"].value)
    view = meta["tearsheet_view"].value
    import base64

    assert base64.b64decode(view.split("![tearsheet](data:image/png;base64,")[1].split(")")[0]) == png.read_bytes()
    assert f"PNG: `{png}`" in view and "| 2021 (31 days) |" in view and "### Survivorship bounds" in view
    assert "| 2021-01 |" in view  # the coverage table of the month (bundled point-in-time snapshots)
    assert meta["ledger_reconciles"].value == 1.0
    assert meta["overrides"].value == ["portfolio.objective=max_sharpe"]


def test_month_progress_is_called_once_per_month_with_done_and_total() -> None:
    calls: list[tuple[int, int]] = []
    run_backtest(load_settings(), date(2021, 1, 30), date(2021, 3, 1), month_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # January (2 days), February, March (1 day)


def test_ibovespa_dca_waits_for_trading_days_by_hand() -> None:
    from dca_pipeline.backtest.benchmarks import index_dca

    # Fri 2021-01-01 holiday, Sat, Sun: slices wait; Mon 2021-01-04 buys all four at 100, Tue closes 110
    index = pl.DataFrame({"date": [date(2021, 1, 4), date(2021, 1, 5)], "close": [100.0, 110.0]})
    out = index_dca(index, date(2021, 1, 1), date(2021, 1, 5), 3100)  # R$31/month -> R$1/day
    assert out["value_brl"].to_list() == [Decimal("1.00"), Decimal("2.00"), Decimal("3.00"), Decimal("4.00"), Decimal("5.40")]
    assert out["invested_brl"][-1] == Decimal("5.00")


def test_lump_sum_by_hand() -> None:
    from dca_pipeline.backtest.benchmarks import lump_sum

    bars = pl.DataFrame({"symbol": ["BTC/BRL"] * 2, "date": [date(2021, 1, 1), date(2021, 1, 2)], "close": [100.0, 150.0]})
    out = lump_sum(bars, "BTC/BRL", date(2021, 1, 1), date(2021, 1, 2), 3100, Decimal("0.007"))
    # R$2 total, 0.7% fee -> 0.01986 BTC; at 150 -> R$2.979 -> R$2.98
    assert out["value_brl"].to_list() == [Decimal("1.99"), Decimal("2.98")]


def test_override_validates_and_names_the_field() -> None:
    from dca_pipeline.backtest.sweep import override
    from dca_pipeline.config import ConfigError

    s = override(load_settings(), "portfolio.objective", "max_sharpe")
    assert s.portfolio.objective == "max_sharpe"
    with pytest.raises(ConfigError, match="portfolio.max_weight"):
        override(load_settings(), "portfolio.max_weight", "2")
    with pytest.raises(ConfigError, match="unknown setting"):
        override(load_settings(), "portfolio.nope", "1")


def test_sweep_compares_variants_on_the_same_data(capsys: pytest.CaptureFixture[str]) -> None:
    from dca_pipeline.backtest.sweep import run_sweep, sweep_settings

    variants = sweep_settings(load_settings(), {"portfolio.objective": ["min_volatility", "max_sharpe"]})
    table, results = run_sweep(variants, date(2021, 1, 1), date(2021, 2, 28))
    assert table["variant"].to_list() == ["portfolio.objective=min_volatility", "portfolio.objective=max_sharpe"]
    a, b = results.values()
    assert a.equity["invested_brl"].to_list() == b.equity["invested_brl"].to_list()  # same budget, same days
    assert a.targets["weight"].to_list() != b.targets["weight"].to_list()  # the flag really changes decisions
    assert cli_main(["backtest", "--start", "2021-01-01", "--end", "2021-01-31", "--sweep", "min_order_brl=10,20"]) == 0
    assert "min_order_brl=20" in capsys.readouterr().out


def test_attribution_components_against_independent_computations() -> None:
    """Not the additivity (true by algebra): the BTC benchmark recomputed from the raw closes by hand, and a
    cost-free configuration attributing exactly zero to costs."""
    from dca_pipeline.backtest.attribution import attribution
    from dca_pipeline.backtest.sweep import override

    settings = load_settings()
    start, end = date(2021, 1, 1), date(2021, 1, 31)
    parts = attribution(settings, start, end)
    btc = ReplaySource().fetch_ohlcv_1d(start, end).filter(pl.col("symbol") == "BTC/BRL").sort("date")
    assert btc.height == 31
    from dca_pipeline.money import daily_contribution_centavos  # the budget schedule (an input, tested in test_money)

    slices = [daily_contribution_centavos(settings.budget_centavos, d) / 100 for d in btc["date"].to_list()]
    coins = sum(s / c for s, c in zip(slices, btc["close"].to_list()))  # each slice buys BTC at that day's close, no fee
    assert parts["btc_dca_no_costs_brl"] == pytest.approx(coins * btc["close"][-1], abs=0.05)
    assert parts["costs_brl"] < 0  # fees and slippage were paid

    free = override(override(settings, "fees.taker", "0"), "slippage_bps", "0")
    free_parts = attribution(free, start, end)
    assert free_parts["costs_brl"] == 0.0  # nothing paid, nothing attributed to costs
    assert free_parts["strategy_brl"] == pytest.approx(parts["strategy_brl"] - parts["costs_brl"], abs=0.01)


class _Delists(ReplaySource):
    """The real history, except that one coin stops trading after `last_day`."""

    def __init__(self, symbol: str, last_day: date) -> None:
        self.symbol, self.last_day = symbol, last_day

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        return bars.filter(~((pl.col("symbol") == self.symbol) & (pl.col("date") > self.last_day)))


def test_delisted_coin_is_liquidated_at_its_last_close() -> None:
    settings = load_settings()
    base = run_backtest(settings, date(2021, 1, 1), date(2021, 1, 31))
    held = base.fills.group_by("symbol").len().sort("len", descending=True)["symbol"][0]
    last_day = date(2021, 1, 15)
    r = run_backtest(settings, date(2021, 1, 1), date(2021, 1, 31), source=_Delists(held, last_day))
    liq = r.liquidations.row(0, named=True)
    assert liq["symbol"] == held and liq["price_date"] == last_day
    assert liq["date"] == last_day + timedelta(days=8)  # after STALE_DAYS without a bar
    assert r.fills.filter((pl.col("symbol") == held) & (pl.col("date") > last_day)).is_empty()  # never bought again
    assert r.metrics["ledger_reconciles"] == 1.0  # contributions + realized P&L = cash + cost + fees
    last = ReplaySource().fetch_ohlcv_1d(last_day, last_day).filter(pl.col("symbol") == held)["close"][0]
    assert liq["price_brl"] == last


def test_the_strategy_never_targets_a_coin_its_months_snapshot_does_not_list() -> None:
    """Point in time: over months where coins enter and leave the CMC top 200 (LUNA's crash, FTT's), every coin with a
    positive target weight is listed by that month's snapshot (the latest on or before the month's first day)."""
    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.config import load_settings
    from dca_pipeline.ingestion import bundle

    result = run_backtest(load_settings(), date(2022, 4, 1), date(2022, 12, 31))
    snaps = bundle.universe_snapshots()
    targeted = result.targets.filter(pl.col("weight") > 0)
    assert targeted["month"].n_unique() == 9 and len(targeted) > 9 * 5
    for (month,), group in targeted.partition_by("month", as_dict=True).items():
        snap_day = snaps.filter(pl.col("snapshot_date") <= month)["snapshot_date"].max()
        listed = {f"{b}/BRL" for b in snaps.filter(pl.col("snapshot_date") == snap_day)["base"]}
        outside = set(group["symbol"]) - listed
        assert not outside, f"{month}: targeted outside the snapshot of {snap_day}: {outside}"


def test_appending_future_data_changes_no_month_already_decided() -> None:
    """The whole-history passes (features, regime features, caches) read nothing after a month's eve: a run that
    loads nine more months of data decides the shared months' targets and regimes exactly as the short run."""
    settings = load_settings()
    short = run_backtest(settings, date(2020, 6, 1), date(2020, 8, 31), with_regime=True)
    long = run_backtest(settings, date(2020, 6, 1), date(2021, 5, 31), with_regime=True)
    cols = ["month", "symbol", "tier", "weight", "cap"]
    shared = long.targets.filter(pl.col("month") <= date(2020, 8, 1))
    assert len(short.targets) > 0 and shared.select(cols).rows() == short.targets.select(cols).rows()
    assert long.regimes.filter(pl.col("month") <= date(2020, 8, 1)).rows() == short.regimes.rows()
    assert long.equity.filter(pl.col("date") < date(2020, 8, 31)).rows() == short.equity.filter(pl.col("date") < date(2020, 8, 31)).rows()


def test_a_shared_history_decides_like_separate_runs_and_times_every_stage() -> None:
    """A sweep's shared MarketHistory (one load, one feature pass, shared GARCH cache) changes no decision."""
    from dca_pipeline.backtest.engine import STAGES
    from dca_pipeline.backtest.sweep import override, shared_history

    base = load_settings()
    start, end = date(2021, 1, 1), date(2021, 3, 31)
    variants = {"a": base, "b": override(base, "portfolio.turnover_cap", "0.10")}
    history = shared_history(variants, start, end)
    shared = {}
    for name, settings in variants.items():
        shared[name] = run_backtest(settings, start, end, history=history)
        if name == "a":
            fitted, features = len(history.garch), history._features
    assert len(history.garch) == fitted > 0 and history._features is features  # b fitted nothing, featured nothing
    for name, settings in variants.items():
        alone = run_backtest(settings, start, end)
        assert shared[name].targets.select("month", "symbol", "weight").rows() == alone.targets.select("month", "symbol", "weight").rows()
        assert shared[name].equity.rows() == alone.equity.rows()
        assert set(STAGES) <= set(alone.timings) and alone.timings["total"] >= sum(alone.timings[s] for s in STAGES) > 0
    assert shared["a"].targets["weight"].to_list() != shared["b"].targets["weight"].to_list()
