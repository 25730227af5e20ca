"""A blocked day blocks only itself: with every close of one day missing from the bundled data, the real daily
job quarantines that day, places no order on it, places orders on the days around it, and the demo's closing
lines list it.

It starts from the session's prepared January 2021 (history, eve features and targets built once, conftest)
and runs the days around the hole through `runner.run_days` as the demo does (one single-run backfill of the days,
stopped by the hole's blocking checks, then day by day): the
days before the 13th add nothing to what is proved (the ledger carries day to day the same way)."""
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from dca_pipeline.config import load_settings
from dca_pipeline.money import daily_contribution_centavos
from dca_pipeline.paths import BUNDLED_DATA_DIR
from dca_pipeline.runner import blocked_days_report, run_days
from dca_pipeline.storage import duck, quarantine
from dca_pipeline_tests.months import copy_home, env, record_month_targets

HOLE = date(2021, 1, 15)
DAYS = [HOLE + timedelta(days=k) for k in (-2, -1, 0, 1, 2)]


@pytest.fixture(scope="module")
def holed(january_2021, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """The days around HOLE run on a copy of the prepared month, with the bundle's closes of HOLE removed."""
    tmp = tmp_path_factory.mktemp("holed")
    data = tmp / "data"
    shutil.copytree(BUNDLED_DATA_DIR, data)
    bars = pl.read_parquet(data / "ohlcv_1d_usd.parquet")
    assert bars.filter(pl.col("date") == HOLE).height > 20  # the bundle really has that day
    bars.with_columns(pl.when(pl.col("date") == HOLE).then(None).otherwise(pl.col("close")).alias("close")).write_parquet(
        data / "ohlcv_1d_usd.parquet")
    home = copy_home(january_2021.prepared, tmp / "dca_home")
    with env(DCA_DATA_DIR=str(data), DCA_HOME=str(home)), DagsterInstance.ephemeral() as instance:
        logs: list[str] = []  # as the demo: the days as one single-run backfill first, then day by day when it is stopped
        blocked = run_days(DAYS, record_month_targets(instance), log=logs.append, one_run=True)
    assert logs[0] == f"daily runs {DAYS[0]} .. {DAYS[-1]} (one single-run backfill)"
    assert logs[1].startswith("a blocking check stopped the range (raw_ohlcv_1d:") and logs[2] == f"daily run {DAYS[0]}"
    return home / "warehouse.duckdb", bars, blocked


def test_a_day_without_closes_is_blocked_and_the_days_around_it_trade(holed) -> None:  # noqa: ANN001
    db, bars, blocked = holed
    duck.close_all()
    assert [b.day for b in blocked] == [HOLE]
    assert "raw_ohlcv_1d:quarantine_share" in blocked[0].checks
    report = blocked_days_report(blocked)  # what the demo prints at the end
    assert report.splitlines()[0].startswith("blocked days (1)") and f"  {HOLE}: raw_ohlcv_1d:" in report

    quarantined = quarantine.read(db, "raw_ohlcv_1d", HOLE, HOLE)
    if quarantined.is_empty():
        quarantined = quarantine.read(db, "ohlcv_1d", HOLE, HOLE)
    assert quarantined.height == bars.filter(pl.col("date") == HOLE).height  # every row of the day, with its reason
    assert set(quarantined["reason"].to_list()) == {"missing price"}
    orders = duck.query(db, "select date, count(*) as n from execution.events where kind = 'order' and status = 'planned' "
                            "group by date order by date")
    by_day = dict(orders.iter_rows())
    assert HOLE not in by_day  # no order on the blocked day
    assert by_day.get(HOLE - timedelta(days=1), 0) > 0 and by_day.get(HOLE + timedelta(days=1), 0) > 0  # the days around it trade
    assert max(by_day) == DAYS[-1]  # and the days after it run
    valued = duck.query(db, "select date from monitoring.portfolio_performance order by date")["date"].to_list()
    assert valued == [d for d in DAYS if d != HOLE]
    duck.close_all()


def test_the_blocked_days_contribution_reaches_the_next_days_cash(holed) -> None:  # noqa: ANN001
    db, _bars, _blocked = holed
    budget = load_settings().budget_centavos
    assert budget == 100_000
    contributions = dict(duck.query(db, "select date, amount_centavos from execution.cash_ledger "
                                        "where kind = 'contribution' order by date").iter_rows())
    # by hand: R$1000 over 31 days; the 15th's slice is 100000*15//31 - 100000*14//31 = 48387 - 45161 = 3226 and the
    # 16th's is 51612 - 48387 = 3225: the day after the hole is credited both, 6451
    assert daily_contribution_centavos(budget, HOLE) == 3226
    assert contributions[HOLE + timedelta(days=1)] == 6451
    assert HOLE not in contributions and contributions[HOLE - timedelta(days=1)] == 3226  # 45161 - 41935
    decisions = duck.query(db, "select reason from execution.day_decisions where date = ? and side = 'contribution'",
                           [HOLE + timedelta(days=1)])
    assert decisions["reason"].to_list() == [f"contribution of 2 days: this day's slice and 1 uncredited (blocked or not run): {HOLE}"]
    duck.close_all()
