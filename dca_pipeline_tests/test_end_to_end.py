"""One monthly partition and every daily partition of January 2021, in temporary homes, through Dagster."""
import os
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from dca_pipeline.config import load_settings
from dca_pipeline.execution import ledger
from dca_pipeline.runner import month_days
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

MONTH = date(2021, 1, 1)
DAYS = month_days(MONTH)


@pytest.fixture(scope="module")
def month_home(january_2021, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """A copy of the session's January 2021 (conftest) for this module's readers: the shared home is never opened
    in place (DuckDB takes a file lock, and another test process may be copying it)."""
    from dca_pipeline_tests.months import copy_home

    assert january_2021.days == DAYS and january_2021.blocked == []
    return copy_home(january_2021.home, tmp_path_factory.mktemp("e2e") / "dca_home")


@pytest.fixture
def db(month_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Read only here; the test that reruns a day makes its own copy."""
    monkeypatch.setenv("DCA_HOME", str(month_home))
    return warehouse_path()


def test_orders_never_exceed_the_budget(db: Path) -> None:
    settings = load_settings()
    orders = duck.query(db, "select date, amount_centavos from execution.dca_orders")
    assert len(orders) > 0
    assert orders["amount_centavos"].min() >= settings.min_order_centavos
    for day in DAYS:
        spent = int(orders.filter(pl.col("date") == day)["amount_centavos"].sum())
        contribution = duck.query(
            db, "select amount_centavos from execution.cash_ledger where kind = 'contribution' and date = ?", [day]
        )["amount_centavos"].to_list()
        assert len(contribution) == 1
        assert spent <= ledger.cash_balance_centavos(db, day - timedelta(days=1)) + contribution[0]
    assert int(orders["amount_centavos"].sum()) <= settings.budget_centavos
    contributions = ledger.ledger_totals(db, DAYS[-1])["contribution"]
    assert contributions == settings.budget_centavos  # the month's slices add up to R$1000 exactly


def test_weights_respect_caps_and_tier_shares(db: Path) -> None:
    settings = load_settings()
    w = duck.query(db, "select * from portfolio.target_weights where month = ?", [MONTH])
    assert len(w) >= settings.portfolio.min_assets
    assert (w["weight"] >= 0).all() and (w["weight"] <= w["cap"] + 1e-9).all()
    assert float(w["weight"].sum()) == pytest.approx(1.0, abs=1e-6)
    tiers = {t.name: t for t in settings.tiers}
    for tier, n in w.group_by("tier").len().iter_rows():
        assert n <= tiers[tier].max_assets
        # relax_cap: cap is at most (1 + headroom) x the smallest feasible cap, never below max_weight
        share = float(w.filter(pl.col("tier") == tier)["weight"].sum())
        cap = float(w.filter(pl.col("tier") == tier)["cap"].max())
        assert cap >= float(settings.portfolio.max_weight) - 1e-12
        assert cap <= max(float(settings.portfolio.max_weight), share / n * 1.25) + 1e-6  # weights stored to 1e-8


def test_cash_and_positions_reconcile_to_the_centavo(db: Path) -> None:
    last = DAYS[-1]
    totals = ledger.ledger_totals(db, last)
    fills = duck.query(db, "select sum(fee_centavos)::bigint as fee, sum(notional_centavos)::bigint as cost from execution.fills")
    pos = duck.query(db, "select * from execution.positions where date = ?", [last])
    cash = ledger.cash_balance_centavos(db, last)
    cost_basis = int(sum(pos["cost_basis_brl"].to_list()) * 100)
    assert cost_basis == int(fills["cost"][0]) + int(fills["fee"][0])  # custo médio: buy fees are acquisition cost
    assert totals["contribution"] == cash + cost_basis  # buys only: no realized P&L
    perf = duck.query(db, "select * from monitoring.portfolio_performance where date = ?", [last]).row(0, named=True)
    assert perf["value_brl"] == perf["cash_brl"] + sum(pos["market_value_brl"].to_list())
    assert perf["invested_brl"] * 100 == totals["contribution"]
    assert perf["pnl_brl"] == perf["value_brl"] - perf["invested_brl"]
    # every day of the month was valued, once
    days = duck.query(db, "select date from monitoring.portfolio_performance order by date")["date"].to_list()
    assert days == DAYS


def test_positions_value_matches_raw_closes(db: Path) -> None:
    last = DAYS[-1]
    pos = duck.query(db, "select symbol, quantity, market_value_brl from execution.positions where date = ?", [last])
    raw = pl.read_parquet(Path(os.environ["DCA_HOME"]) / "raw" / "ohlcv_1d" / f"date={last}" / "data.parquet")
    closes = dict(zip(raw["symbol"], raw["close"]))
    for sym, qty, mv in pos.iter_rows():
        assert float(mv) == pytest.approx(float(qty) * closes[sym], abs=0.006)


def test_rematerializing_a_day_changes_nothing(january_2021, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from dca_pipeline.definitions import defs
    from dca_pipeline_tests.months import copy_home

    monkeypatch.setenv("DCA_HOME", str(copy_home(january_2021.home, tmp_path / "rerun")))
    db = warehouse_path()

    day = date(2021, 1, 15)
    tables = ("dca_orders", "fills", "positions", "cash_ledger")

    def snapshot() -> dict[str, list]:
        return {t: duck.query(db, f"select * from execution.{t} order by all").rows() for t in tables} | {
            "performance": duck.query(db, "select * from monitoring.portfolio_performance order by all").rows()
        }

    before = snapshot()
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_job").execute_in_process(instance=instance, partition_key=day.isoformat())
    assert result.success
    assert snapshot() == before


def test_backtest_replays_the_same_month_to_the_centavo(db: Path) -> None:
    """The backtester runs the production functions: same targets, orders, fills and value as Dagster did."""
    from dca_pipeline.backtest import run_backtest

    result = run_backtest(load_settings(), MONTH, DAYS[-1])
    stored = duck.query(db, "select symbol, weight from portfolio.target_weights where month = ? order by symbol", [MONTH])
    assert result.targets.sort("symbol").select("symbol", "weight").rows() == stored.rows()
    orders = duck.query(db, "select date, symbol, amount_centavos from execution.dca_orders order by all")
    assert result.orders.select("date", "symbol", "amount_centavos").sort(pl.all()).rows() == orders.rows()
    perf = duck.query(db, "select date, invested_brl, value_brl, cash_brl from monitoring.portfolio_performance order by date")
    assert result.equity.select("date", "invested_brl", "value_brl", "cash_brl").rows() == perf.rows()
    assert result.metrics["ledger_reconciles"] == 1.0


def test_daily_summary_alert_reads_the_day_back(db: Path) -> None:
    from dca_pipeline.monitoring.summary import daily_summary_alert

    alert = daily_summary_alert(DAYS[-1].isoformat())
    perf = duck.query(db, "select value_brl, pnl_brl from monitoring.portfolio_performance where date = ?", [DAYS[-1]]).row(0)
    assert alert.severity.name == "INFO"
    assert alert.fields["value"] == f"R$ {perf[0]:,.2f}" and alert.fields["pnl"] == f"R$ {perf[1]:,.2f}"
    assert alert.fields["regime"] in {"bull", "bear", "sideways", "crisis"}
    assert daily_summary_alert(DAYS[-1].isoformat(), ["raw_ohlcv_1d:no_missing_symbol_days"]).severity.name == "WARNING"
