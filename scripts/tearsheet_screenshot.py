"""Save a PNG of a tearsheet with headless Chromium (Debian's chromium + chromium-driver): the README image.

Usage: python scripts/tearsheet_screenshot.py .dca/reports/backtest.html docs/tearsheet.png
"""
import sys
from pathlib import Path

from selenium import webdriver


def main(html: str, png: str, width: int = 1400, height: int = 2200) -> None:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        driver.get(Path(html).resolve().as_uri())
        driver.save_screenshot(png)
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
