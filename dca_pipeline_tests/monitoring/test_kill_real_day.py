"""The issue's scenario on the real assets: `dagster asset materialize` of dca_orders, fills and positions for
one day, SIGKILLed six times at 2-27 s (the whole process group, as a reboot would), then a plain rerun: it
completes (no pool slot left claimed by a dead run) and the execution tables and the paper exchange's books
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

DAY = "2021-01-01"
SELECT = "dca_orders,fills,positions"
EVENT_COLUMNS = "event_id, date, kind, client_order_id, symbol, side, status, quantity, price_brl, amount_centavos, cash_centavos"


def _env(dagster_home: Path, dca_home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(dagster_home), "DCA_HOME": str(dca_home), "PYTHONPATH": str(PROJECT_ROOT)}


def _materialize(env: dict[str, str]) -> subprocess.Popen:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen([str(dagster), "asset", "materialize", "-m", "dca_pipeline.definitions", "--partition", DAY,
                             "--select", SELECT], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
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
def test_six_kills_of_a_real_day_then_a_plain_rerun(tmp_path: Path) -> None:
    home, prepared = tmp_path / "instance", tmp_path / "prepared"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    setup = subprocess.run([sys.executable, "-W", "ignore", "-m", "dca_pipeline_tests.monitoring.prepare_month", DAY[:7]],
                           cwd=PROJECT_ROOT, env=_env(home, prepared), capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0 and "prepared" in setup.stdout, (setup.stdout + setup.stderr)[-3000:]
    undisturbed, victim = tmp_path / "undisturbed", tmp_path / "victim"
    shutil.copytree(prepared, undisturbed)
    shutil.copytree(prepared, victim)

    _finish(_materialize(_env(home, undisturbed)))
    expected = _tables(undisturbed)
    assert expected["fills"].height > 0

    rng = random.Random(14)
    for _ in range(6):
        proc = _materialize(_env(home, victim))
        time.sleep(rng.uniform(2, 27))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _finish(_materialize(_env(home, victim)))  # plain rerun: blocked forever if a dead run kept a slot

    got = _tables(victim)
    for name, frame in expected.items():
        assert got[name].equals(frame), f"execution.{name} differs from the undisturbed run"
    account = PaperAccount(victim / "broker" / "warehouse.paper.sqlite")
    assert account.dump() == PaperAccount(undisturbed / "broker" / "warehouse.paper.sqlite").dump()
    assert set(account.accepted_counts().values()) == {1}
    with DagsterInstance.from_config(str(home)) as instance:
        for pool in ("exchange_api", "duckdb_warehouse"):
            assert instance.event_log_storage.get_concurrency_info(pool).claimed_slots == []
