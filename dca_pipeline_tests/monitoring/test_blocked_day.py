"""A blocked day blocks only itself: with every close of one day missing from the bundled data, the demo month
quarantines that day, places no order on it, places orders on the days around it, and lists it at the end."""
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.paths import BUNDLED_DATA_DIR, PROJECT_ROOT
from dca_pipeline.storage import duck, quarantine

HOLE = date(2021, 1, 15)


@pytest.mark.slow
def test_a_day_without_closes_is_blocked_and_the_month_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA_DIR, data)
    bars = pl.read_parquet(data / "ohlcv_1d_usd.parquet")
    assert bars.filter(pl.col("date") == HOLE).height > 20  # the bundle really has that day
    bars.with_columns(pl.when(pl.col("date") == HOLE).then(None).otherwise(pl.col("close")).alias("close")).write_parquet(
        data / "ohlcv_1d_usd.parquet")
    home = tmp_path / "dca_home"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"DCA_HOME": str(home), "DCA_DATA_DIR": str(data), "PYTHONPATH": str(PROJECT_ROOT)})
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "dca_pipeline.demo", "--month", "2021-01"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "blocked days (1)" in proc.stdout and f"  {HOLE}: raw_ohlcv_1d:" in proc.stdout, proc.stdout[-3000:]
    assert "raw_ohlcv_1d:quarantine_share" in proc.stdout

    db = home / "warehouse.duckdb"
    quarantined = quarantine.read(db, "raw_ohlcv_1d", HOLE, HOLE)
    if quarantined.is_empty():
        quarantined = quarantine.read(db, "ohlcv_1d", HOLE, HOLE)
    assert quarantined.height == bars.filter(pl.col("date") == HOLE).height  # every row of the day, with its reason
    assert set(quarantined["reason"].to_list()) == {"missing price"}
    orders = duck.query(db, "select date, count(*) as n from execution.events where kind = 'order' and status = 'planned' "
                            "group by date order by date")
    by_day = dict(orders.iter_rows())
    assert HOLE not in by_day  # no order on the blocked day
    assert by_day.get(date(2021, 1, 14), 0) > 0 and by_day.get(date(2021, 1, 16), 0) > 0  # the days around it trade
    assert max(by_day) == date(2021, 1, 31)  # and the month runs to its end
    duck.close_all()
