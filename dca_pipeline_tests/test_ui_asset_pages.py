"""Browser test: after the demo month, the asset pages of target_weights, dca_orders and portfolio_performance show
their table and their chart in the Dagster UI (headless Chromium); a screenshot of each page is kept in the test's
tmp dir. Month-scale (the demo runs in a subprocess): marked slow, run by `make test-slow`."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dca_pipeline.paths import PROJECT_ROOT
from dca_pipeline_tests.test_ui import CHROMEDRIVER, CHROMIUM, chrome, skip_dialogs, start_webserver, stop

MONTH = "2025-06"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")]


@dataclass(frozen=True)
class Page:
    asset: str
    table: str  # metadata key of the MetadataValue.table
    header: str  # a column the table must show
    charts: tuple[str, ...]  # metadata keys of the Markdown PNG charts


PAGES = (
    Page("target_weights", "weights_table", "binding", ("weights_chart",)),
    Page("dca_orders", "decisions_table", "reason", ("orders_chart",)),
    Page("portfolio_performance", "performance_table", "btc_only_dca_brl", ("equity_chart", "equity_chart_log", "drawdown_chart")),
)


def run_demo(home: Path, month: str = MONTH) -> dict[str, str]:
    """The demo month into `home` (Dagster instance and $DCA_HOME); returns the environment that reads it."""
    env = {"DAGSTER_HOME": str(home / "dagster"), "DCA_HOME": str(home / "dca")}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "dca_pipeline.demo", "--month", month], cwd=PROJECT_ROOT,
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return env


def _wait(driver, xpath: str, seconds: float = 90):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while True:
        skip_dialogs(driver)
        found = driver.find_elements("xpath", xpath)
        if found and found[0].is_displayed():
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"not on the page after {seconds:.0f} s: {xpath}")
        time.sleep(1)


def _row(driver, key: str):  # noqa: ANN001, ANN202
    """The metadata row of `key` on the asset's overview page."""
    return _wait(driver, f"//tr[td[1]//span[normalize-space()='{key}']]")


def table_rows(driver, page: Page) -> list[list[str]]:  # noqa: ANN001
    """The rendered table of `page.table` (header first), scrolled into view."""
    row = _row(driver, page.table)
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", row)
    cells = [[c.text for c in tr.find_elements("xpath", "./th|./td")] for tr in row.find_elements("xpath", ".//table//tr")]
    return [c for c in cells if any(c)]


def open_chart(driver, key: str):  # noqa: ANN001, ANN202
    """Open the Markdown of chart `key` (the UI folds long Markdown behind [Show Markdown]); returns its <img>."""
    row = _row(driver, key)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", row)
    row.find_element("xpath", ".//a[contains(., 'Show Markdown')]").click()
    img = _wait(driver, "//div[@role='dialog']//img[starts-with(@src, 'data:image/png;base64,')]", 30)
    time.sleep(1.5)  # let the dialog finish fading in before the screenshot
    return img


def close_dialog(driver) -> None:  # noqa: ANN001
    driver.find_element("xpath", "//div[@role='dialog']//button[normalize-space()='Close']").click()
    time.sleep(0.5)


def check_asset_pages(url: str, out_dir: Path, profile: Path) -> dict[str, list[list[str]]]:
    """Open each page, find its table and charts, save `<asset>.png` (table) and `<asset>_<chart>.png` (each chart);
    returns each page's table as text."""
    driver = chrome(profile)
    tables = {}
    try:
        for page in PAGES:
            driver.get(f"{url}/assets/{page.asset}")
            rows = table_rows(driver, page)
            driver.save_screenshot(str(out_dir / f"{page.asset}.png"))
            assert rows and page.header in rows[0], (page.asset, rows[:2])
            tables[page.asset] = rows
            for key in page.charts:
                img = open_chart(driver, key)
                assert img.size["width"] > 300 and img.size["height"] > 150, (page.asset, key, img.size)
                driver.save_screenshot(str(out_dir / f"{page.asset}_{key}.png"))
                close_dialog(driver)
    finally:
        driver.quit()
    return tables


def test_asset_pages_show_their_table_and_chart_after_the_demo_month(tmp_path: Path) -> None:
    env = run_demo(tmp_path / "home")
    proc, url = start_webserver(Path(env["DAGSTER_HOME"]), env)
    try:
        tables = check_asset_pages(url, tmp_path, tmp_path / "chrome")
    finally:
        stop(proc)
    for page in PAGES:
        assert (tmp_path / f"{page.asset}.png").stat().st_size > 20_000
        for key in page.charts:
            assert (tmp_path / f"{page.asset}_{key}.png").stat().st_size > 20_000
    assert_tables_match_warehouse(tables, Path(env["DCA_HOME"]) / "warehouse.duckdb")


def assert_tables_match_warehouse(tables: dict[str, list[list[str]]], warehouse: Path) -> None:
    """What the pages show is what the warehouse holds (read back here with plain SQL)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as db:
        symbols = {r[0] for r in db.execute("select symbol from portfolio.target_weights where month = ?", [f"{MONTH}-01"]).fetchall()}
        last = db.execute("select max(date) from execution.day_decisions").fetchone()[0]
        decisions = db.execute("select symbol, decision, reason from execution.day_decisions where date = ?", [last]).fetchall()
        perf = db.execute("select date, value_brl from monitoring.portfolio_performance order by date desc limit 1").fetchone()
    tw = tables["target_weights"]
    assert {r[tw[0].index("symbol")] for r in tw[1:]} == symbols
    do = tables["dca_orders"]
    shown = sorted((r[do[0].index("symbol")], r[do[0].index("decision")], r[do[0].index("reason")]) for r in do[1:])
    assert shown == sorted(decisions)  # every order and every skip of the last day, each with its reason
    pp = tables["portfolio_performance"]
    newest = pp[1]
    assert newest[pp[0].index("date")] == str(perf[0])
    assert float(newest[pp[0].index("value_brl")]) == pytest.approx(float(perf[1]), abs=0.005)
