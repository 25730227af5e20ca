"""Dates outside the data are an error naming the data's range: the window check, the CLI."""
from datetime import date

import pytest

from dca_pipeline.backtest.window import OutsideDataRange, data_range_of, require_within
from dca_pipeline.cli import main as cli_main
from dca_pipeline.ingestion.sources import ReplaySource

RANGE = (date(2017, 11, 9), date(2025, 11, 13))


@pytest.mark.parametrize("start,end", [
    (date(2027, 1, 1), date(2027, 3, 1)),   # wholly after the data
    (date(2025, 10, 1), date(2025, 12, 31)),  # ends after the last bar: refused, never liquidated at stale prices
    (date(2016, 1, 1), date(2018, 1, 1)),   # starts before the first bar
])
def test_windows_outside_the_data_raise_with_the_range(start: date, end: date) -> None:
    with pytest.raises(OutsideDataRange, match=r"covers 2017-11-09 → 2025-11-13") as err:
        require_within(start, end, RANGE)
    assert f"{start} → {end}" in str(err.value)


def test_windows_inside_pass_and_reversed_windows_fail() -> None:
    require_within(date(2017, 11, 9), date(2025, 11, 13), RANGE)  # the whole range is allowed
    require_within(date(2027, 1, 1), date(2027, 3, 1), None)  # a live source without a known range
    with pytest.raises(ValueError, match="before start"):
        require_within(date(2022, 2, 1), date(2022, 1, 1), RANGE)


def test_data_range_of_the_replay_source() -> None:
    first, last = data_range_of(ReplaySource())
    assert first < last
    assert data_range_of(object()) is None


def test_cli_backtest_past_the_data_exits_non_zero_naming_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    first, last = ReplaySource().data_range()
    code = cli_main(["backtest", "--start", "2027-01-01", "--end", "2027-03-01", "--no-regime"])
    err = capsys.readouterr().err
    assert code == 2
    assert "2027-01-01 → 2027-03-01 is outside the data" in err and f"covers {first} → {last}" in err


def test_cli_verdict_refuses_a_window_past_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["verdict", "--window", "2027-01-01:2027-03-01", "--no-best-coin"])
    assert code == 2 and "is outside the data" in capsys.readouterr().err
