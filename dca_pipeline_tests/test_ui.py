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


def start_webserver(dagster_home: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`dagster-webserver` on a free loopback port for the instance at `dagster_home`; (process, url) once it answers."""
    port = _free_port()
    exe = Path(sys.executable).with_name("dagster-webserver")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), **(extra_env or {})}
    proc = subprocess.Popen(
        [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("dagster-webserver did not start within 180 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def webserver(tmp_path: Path):  # noqa: ANN201
    proc, url = start_webserver(tmp_path)
    yield url
    stop(proc)


def chrome(profile: Path):  # noqa: ANN201
    """Headless Debian Chromium through selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def skip_dialogs(driver) -> None:  # noqa: ANN001
    for button in driver.find_elements("xpath", "//button[normalize-space()='Skip']"):
        button.click()  # the first-visit community dialog


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_asset_graph_shows_the_six_groups(webserver: str, tmp_path: Path) -> None:
    driver = chrome(tmp_path / "chrome")
    try:
        driver.get(f"{webserver}/asset-groups")
        deadline, text = time.monotonic() + 90, ""
        while time.monotonic() < deadline:
            skip_dialogs(driver)
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
