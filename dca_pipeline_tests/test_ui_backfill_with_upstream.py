"""Browser test (slow): on a fresh instance, a month of `dca_orders` partitions is materialized from the UI with every
upstream partition it needs.

Headless Chromium opens the Launchpad of `materialize_with_upstream_job`, enters the asset and the month's first and
last day, and clicks *Launch Run*; the run submits one asset backfill (backfills.py) that `dagster-daemon` runs in
dependency order. The test waits for the backfill to complete on *Overview → Backfills* and then checks the instance:
February 2018's raw bars from the start of the data (the regime reads 1100 days before the month, cut at 2017-01-01)
through 2018-02-28, January's features (the scores read the eve), February's market caps → tiers, scores, regime,
targets, and every day of February's orders — written out by hand here, not derived from the partition mappings.
"""
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from dca_pipeline.paths import PROJECT_ROOT
from dca_pipeline_tests.test_ui import CHROMEDRIVER, CHROMIUM, chrome, skip_dialogs, start_webserver, stop

pytestmark = pytest.mark.slow
FIRST, LAST = "2018-02-01", "2018-02-28"


def _days(first: str, last: str) -> set[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)}


EXPECTED = {
    "raw_ohlcv_1d": _days("2017-01-01", LAST),
    "features_daily": _days("2018-01-01", "2018-01-31"),
    "market_caps": {FIRST},
    "asset_tiers": {FIRST},
    "asset_scores": {FIRST},
    "market_regime": {FIRST},
    "target_weights": {FIRST},
    "dca_orders": _days(FIRST, LAST),
}
CONFIG = f"""ops:
  backfill_with_upstream:
    config:
      asset: dca_orders
      first_partition: "{FIRST}"
      last_partition: "{LAST}"
"""


def _until(driver, predicate, seconds: float, step: float = 2.0) -> str:  # noqa: ANN001
    deadline, text = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        skip_dialogs(driver)
        text = driver.find_element("tag name", "body").text
        if predicate(text):
            return text
        time.sleep(step)
    return text


def _click(driver, xpath: str, tmp_path: Path, seconds: float = 60) -> None:  # noqa: ANN001
    """Click `xpath`; the first-visit community dialog can open after the page is ready and cover the button, so
    a covered click dismisses dialogs and tries again (a screenshot of what covered it is kept on failure)."""
    from selenium.common.exceptions import ElementClickInterceptedException

    deadline = time.monotonic() + seconds
    while True:
        skip_dialogs(driver)
        try:
            driver.find_element("xpath", xpath).click()
            return
        except ElementClickInterceptedException:
            if time.monotonic() > deadline:
                driver.save_screenshot(str(tmp_path / "click_intercepted.png"))
                raise
            time.sleep(1)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_month_of_orders_materialized_from_the_ui_with_its_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "instance"  # a fresh instance with the project's settings
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())  # pools, run monitoring
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the project's event log storage finds its files there
    env = {"DCA_HOME": str(tmp_path / "dca_home")}
    web, url = start_webserver(home, env)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env={**os.environ, "DAGSTER_HOME": str(home), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    driver = chrome(tmp_path / "chrome")
    try:
        driver.get(f"{url}/locations/dca_pipeline/jobs/materialize_with_upstream_job/playground")
        _until(driver, lambda t: "Launch Run" in t, 120)
        driver.execute_script("document.querySelector('.CodeMirror').CodeMirror.setValue(arguments[0]);", CONFIG)
        time.sleep(2)  # the Launchpad validates the config before enabling the button
        _click(driver, "//button[normalize-space()='Launch Run']", tmp_path)
        time.sleep(5)
        driver.save_screenshot(str(tmp_path / "launched.png"))

        instance = DagsterInstance.from_config(str(home))
        deadline, backfills = time.monotonic() + 1800, []
        while time.monotonic() < deadline:
            backfills = instance.get_backfills()
            if backfills and backfills[0].status.value not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            time.sleep(10)
        assert backfills, "the Launchpad run submitted no backfill"
        assert backfills[0].status.value == "COMPLETED_SUCCESS", backfills[0].status
        driver.get(f"{url}/overview/backfills")  # the backfill, its target assets, the tag naming the request, its status
        shown = (backfills[0].backfill_id, "Success", "dca_orders", "dca/with_upstream: dca_orders 2018-02-01")
        text = _until(driver, lambda t: all(s in t for s in shown), 90)
        driver.save_screenshot(str(tmp_path / "backfills.png"))
        assert all(s in text for s in shown), text[:2000]

        for name, expected in EXPECTED.items():
            got = set(instance.get_materialized_partitions(AssetKey(name)))
            assert expected <= got, f"{name}: missing {sorted(expected - got)[:5]}"
        assert max(instance.get_materialized_partitions(AssetKey("raw_ohlcv_1d"))) == LAST
        failed = [r.run_id for r in instance.get_runs() if r.is_failure]
        assert not failed, failed
    finally:
        driver.quit()
        stop(daemon)
        stop(web)
