"""With `portfolio.rebalance.allow_sells: true`, a month with real rebalance sells passes every blocking check.

February 2021 on top of the session's January (conftest), with the monthly contribution cut to R$100: the
monthly job re-optimises, the holdings bought in January drifted from February's targets and the month's cash
cannot close the gaps, so the 1st sells overweights down. The real
monthly and daily jobs run (project assets and checks, only the configuration file differs); every blocking
check of every run is evaluated and passes — `reconciliation:ledger_matches_broker` against the paper
exchange's own books, `portfolio_performance:ledger_reconciles` with realized P&L in the identity — and the
sells reach the ledger with their realized P&L.
"""
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import AssetCheckSeverity, DagsterInstance, Definitions

from dca_pipeline.definitions import defs as project
from dca_pipeline.execution import ledger_views
from dca_pipeline.monitoring.jobs import daily_job
from dca_pipeline.paths import PROJECT_ROOT
from dca_pipeline.portfolio.definitions import monthly_job
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.runner import QUIET
from dca_pipeline.storage import duck
from dca_pipeline_tests.months import copy_home, env, record_month_targets

MONTH = date(2021, 2, 1)
DAYS = [MONTH + timedelta(days=k) for k in range(3)]  # the sells on the 1st, filled at the 2nd's open, valued after


def _config(tmp: Path) -> Path:
    cfg = yaml.safe_load((PROJECT_ROOT / "dca_pipeline" / "default_config.yaml").read_text())
    cfg["portfolio"].setdefault("rebalance", {})["allow_sells"] = True
    # the owner cuts the monthly contribution to R$100 in February: the month's cash can no longer close the
    # gaps between January's holdings and February's targets, so the 1st sells overweights down
    cfg["budget_brl_per_month"] = "100.00"
    path = tmp / "sells.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def sells_month(january_2021, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    tmp = tmp_path_factory.mktemp("sells")
    cfg = PipelineConfig(config_path=str(_config(tmp)))
    defs = Definitions(assets=project.assets, asset_checks=project.asset_checks, jobs=[daily_job, monthly_job],
                       resources={**project.resources, "config": cfg, "pipeline_config": cfg})
    home = copy_home(january_2021.home, tmp / "dca_home")
    results = []
    with env(DCA_HOME=str(home)), DagsterInstance.ephemeral() as instance:
        record_month_targets(instance)  # January's, as the session's instance recorded them
        assert cfg.settings().portfolio.rebalance.allow_sells
        monthly = defs.resolve_job_def("monthly_job")
        results.append(monthly.execute_in_process(instance=instance, run_config=QUIET, partition_key=MONTH.isoformat(),
                                                  raise_on_error=False))
        daily = defs.resolve_job_def("daily_job")
        for day in DAYS:
            results.append(daily.execute_in_process(instance=instance, run_config=QUIET, partition_key=day.isoformat(),
                                                    raise_on_error=False))
    duck.close_all()
    return home / "warehouse.duckdb", results


def test_every_blocking_check_passes_in_a_month_with_sells(sells_month) -> None:  # noqa: ANN001
    _db, results = sells_month
    blocking = [(r.run_id, e) for r in results for e in r.get_asset_check_evaluations() if e.severity == AssetCheckSeverity.ERROR]
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for _, e in blocking if not e.passed]
    assert failed == []
    assert all(r.success for r in results)
    judged = {f"{e.asset_key.to_user_string()}:{e.check_name}" for _, e in blocking}
    # the money-path gates were really evaluated on the days with sells, not skipped
    assert {"reconciliation:ledger_matches_broker", "portfolio_performance:ledger_reconciles",
            "target_weights:weights_within_caps", "raw_ohlcv_1d:quarantine_share"} <= judged
    per_day = [sum(1 for e in r.get_asset_check_evaluations() if e.check_name == "ledger_reconciles") for r in results[1:]]
    assert per_day == [1, 1, 1]


def test_the_first_day_sells_and_the_ledger_books_realized_pnl(sells_month) -> None:  # noqa: ANN001
    db, _results = sells_month
    sells = duck.query(db, "select date, symbol, amount_centavos from execution.dca_orders where side = 'sell' order by all")
    assert sells.height > 0 and set(sells["date"].to_list()) == {MONTH}  # sells on the month's first day only
    sold = duck.query(db, "select symbol, quantity from execution.events where kind = 'fill' and side = 'sell'")
    assert sold.height > 0 and all(q > 0 for q in sold["quantity"].to_list())  # the side carries the sign
    decisions = duck.query(db, "select * from execution.day_decisions where date = ? and decision = 'sell'", [MONTH])
    assert decisions.height == sells.height and all(r.startswith("rebalance:") for r in decisions["reason"].to_list())
    ident = ledger_views.identity(db)
    assert ident.holds and ident.realized != 0  # the identity holds with realized P&L from the sells in it
    # the sold coins' positions shrank by exactly the sold quantity between the eve and the day after the sell
    pos = duck.query(db, "select date, symbol, quantity from execution.positions where date in (?, ?)",
                     [MONTH - timedelta(days=1), DAYS[-1]])
    before = dict(pos.filter(pl.col("date") == MONTH - timedelta(days=1)).select("symbol", "quantity").iter_rows())
    after = dict(pos.filter(pl.col("date") == DAYS[-1]).select("symbol", "quantity").iter_rows())
    bought = duck.query(db, "select symbol, sum(quantity) as q from execution.events where kind = 'fill' and side = 'buy' "
                            "and date between ? and ? group by symbol", [MONTH, DAYS[-1]])
    bought_q = dict(bought.iter_rows())
    for symbol, q in sold.group_by("symbol").agg(pl.col("quantity").sum()).iter_rows():
        assert after.get(symbol, Decimal(0)) == before[symbol] - q + bought_q.get(symbol, Decimal(0))
