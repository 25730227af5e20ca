"""The issue's scenario on the real assets: `dagster asset materialize` of dca_orders, fills and positions for
one day, SIGKILLed six times at 2-27 s (within an undisturbed run's length; the whole process group, as a reboot
would), then a plain rerun: it completes (no pool slot left claimed by a dead run) and the execution tables and the paper exchange's books
equal an undisturbed run's, each client order id accepted once."""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from dca_pipeline.execution.paper_account import PaperAccount
from dca_pipeline.paths import PROJECT_ROOT
from dca_pipeline.storage import duck
from dca_pipeline_tests.months import copy_home, record_month_targets

DAY = "2021-01-01"
SELECT = "dca_orders,fills,positions"
EVENT_COLUMNS = "event_id, date, kind, client_order_id, symbol, side, status, quantity, price_brl, amount_centavos, cash_centavos"


def _env(dagster_home: Path, dca_home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(dagster_home), "DCA_HOME": str(dca_home), "PYTHONPATH": str(PROJECT_ROOT)}


def _materialize(env: dict[str, str], output: int = subprocess.PIPE) -> subprocess.Popen:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen([str(dagster), "asset", "materialize", "-m", "dca_pipeline.definitions", "--partition", DAY,
                             "--select", SELECT], cwd=PROJECT_ROOT, env=env, stdout=output,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, out[-3000:]
    return out


def _tables(dca_home: Path) -> dict[str, object]:
    db = dca_home / "warehouse.duckdb"
    out = {"events": duck.query(db, f"select {EVENT_COLUMNS} from execution.events order by event_id")}
    for table, key in (("dca_orders", "client_order_id"), ("fills", "client_order_id"), ("cash_ledger", "entry_id"), ("positions", "symbol")):
        out[table] = duck.query(db, f"select * from execution.{table} order by {key}")
    duck.close_all()
    return out


@pytest.mark.slow
def test_six_kills_of_a_real_day_then_a_plain_rerun(january_2021, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    home = tmp_path / "instance"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the project's event log storage finds its files there
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    # the month's history, eve features and targets, built once per session (conftest); no day has run in it
    undisturbed = copy_home(january_2021.prepared, tmp_path / "undisturbed")
    victim = copy_home(january_2021.prepared, tmp_path / "victim")
    with DagsterInstance.from_config(str(home)) as instance:
        record_month_targets(instance)

    started = time.monotonic()
    _finish(_materialize(_env(home, undisturbed)))
    window = min(27.0, time.monotonic() - started)  # a kill after the run's end would kill nothing
    expected = _tables(undisturbed)
    assert expected["fills"].height > 0

    rng = random.Random(14)
    killed = 0
    for _ in range(6):
        proc = _materialize(_env(home, victim), subprocess.DEVNULL)  # no pipe to fill while we wait
        try:  # the kill lands 2-27 s in, within an undisturbed run's length, unless this run finished first
            proc.wait(timeout=rng.uniform(2, max(window, 2.5)))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
    _finish(_materialize(_env(home, victim)))  # plain rerun: blocked forever if a dead run kept a slot

    assert killed >= 4, f"only {killed} of the six runs were still running at their kill time"
    got = _tables(victim)
    for name, frame in expected.items():
        assert got[name].equals(frame), f"execution.{name} differs from the undisturbed run"
    account = PaperAccount(victim / "broker" / "warehouse.paper.sqlite")
    assert account.dump() == PaperAccount(undisturbed / "broker" / "warehouse.paper.sqlite").dump()
    assert set(account.accepted_counts().values()) == {1}
    with DagsterInstance.from_config(str(home)) as instance:
        for pool in ("exchange_api", "duckdb_warehouse"):
            assert instance.event_log_storage.get_concurrency_info(pool).claimed_slots == []
