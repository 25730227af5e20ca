"""Time-weighted return chaining, by hand."""
import pytest

from dca_pipeline.execution.positions import next_day_performance


def test_twr_chains_and_ignores_contributions() -> None:
    d1 = next_day_performance(0, 0.0, 3225, 3200, 0, 3225)
    assert d1.daily_return == pytest.approx(3200 / 3225 - 1)
    assert d1.pnl_centavos == -25
    d2 = next_day_performance(d1.value_centavos, d1.twr, 3226, 6500, 10, 6451)
    assert d2.daily_return == pytest.approx(6500 / 6426 - 1)
    assert d2.twr == pytest.approx((3200 / 3225) * (6500 / 6426) - 1)
    assert d2.pnl_centavos == 6500 - 6451


def test_no_capital_means_no_return() -> None:
    d = next_day_performance(0, 0.0, 0, 0, 0, 0)
    assert d.daily_return is None and d.twr == 0.0
