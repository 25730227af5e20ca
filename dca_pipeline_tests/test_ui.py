"""Browser test: the Dagster webserver on loopback shows the six groups and the partitioned assets (headless Chromium)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dca_pipeline.paths import PROJECT_ROOT

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
GROUPS = ("ingestion", "analytics", "intelligence", "portfolio", "execution", "monitoring")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path: Path):  # noqa: ANN201
    port = _free_port()
    exe = Path(sys.executable).with_name("dagster-webserver")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("dagster-webserver did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_asset_graph_shows_the_six_groups(webserver: str, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"{webserver}/asset-groups")
        deadline, text = time.monotonic() + 90, ""
        while time.monotonic() < deadline:
            for button in driver.find_elements("xpath", "//button[normalize-space()='Skip']"):
                button.click()  # the first-visit community dialog
            text = driver.find_element("tag name", "body").text
            if all(g in text for g in GROUPS):
                break
            time.sleep(1)
        driver.save_screenshot(str(tmp_path / "asset_graph.png"))
        assert all(g in text for g in GROUPS), text[:2000]
        driver.get(f"{webserver}/assets/raw_ohlcv_1d")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = driver.find_element("tag name", "body").text
            if "artition" in text:
                break
            time.sleep(1)
        driver.save_screenshot(str(tmp_path / "raw_ohlcv_1d.png"))
        assert "artition" in text  # the asset page shows its daily partitions
    finally:
        driver.quit()
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000
