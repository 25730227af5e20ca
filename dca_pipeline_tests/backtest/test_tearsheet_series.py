"""The tearsheet's series and charts on small synthetic curves: rolling volatility and Sharpe against hand numbers and
pandas, calendar-year time-weighted returns of the strategy and the benchmarks by hand, the drawdown, the PNG."""
import base64
import io
import math
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pandas as pd
import polars as pl
import pytest

from dca_pipeline.backtest.tearsheet_series import TearsheetSeries, drawdown, rolling_risk, value_curves, yearly_returns

ROOT365 = math.sqrt(365)


def _returns(values: list[float | None], start: date = date(2021, 1, 1)) -> pl.DataFrame:
    return pl.DataFrame({"date": [start + timedelta(days=i) for i in range(len(values))], "daily_return": values},
                        schema={"date": pl.Date, "daily_return": pl.Float64})


def test_rolling_volatility_and_sharpe_by_hand() -> None:
    rets = _returns([None, 0.01, -0.02, 0.03, 0.00])
    rf = pl.DataFrame({"date": rets["date"], "rf": [0.001] * 5})
    out = rolling_risk(rets, rf, window=3)
    # the null first day is dropped; a value exists only once 3 returns are in the window
    assert out["date"].to_list() == rets["date"].to_list()[1:]
    assert out["volatility"].to_list()[:2] == [None, None] and out["sharpe"].to_list()[:2] == [None, None]
    # window [0.01, -0.02, 0.03]: mean 1/150, squared deviations sum 0.00126667, sample variance 0.000633333
    std = math.sqrt(0.0012666666666666666 / 2)
    assert out["volatility"][2] == pytest.approx(std * ROOT365, rel=1e-12)
    assert out["volatility"][2] == pytest.approx(0.48080, abs=5e-5)  # 0.0251661 × 19.10497
    # excess [0.009, -0.021, 0.029]: same spread, mean 0.0056667
    assert out["sharpe"][2] == pytest.approx(0.0056666666666666671 / std * ROOT365, rel=1e-12)
    assert out["sharpe"][2] == pytest.approx(4.3020, abs=5e-4)
    # window [-0.02, 0.03, 0.00]: mean 1/300
    w = np.array([-0.02, 0.03, 0.0])
    assert out["volatility"][3] == pytest.approx(np.std(w, ddof=1) * ROOT365, rel=1e-12)
    assert out["sharpe"][3] == pytest.approx((w.mean() - 0.001) / np.std(w, ddof=1) * ROOT365, rel=1e-12)


def test_rolling_90_days_matches_pandas_with_a_varying_cdi() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0.001, 0.04, 250)
    rf_values = np.where(np.arange(251) % 7 < 5, 0.0004, 0.0)  # the CDI earns on business days only
    rets = _returns([None, *r.tolist()])
    rf = pl.DataFrame({"date": rets["date"], "rf": rf_values})
    out = rolling_risk(rets, rf)
    s = pd.Series(r)
    excess = s - rf_values[1:]
    expected_vol = (s.rolling(90).std(ddof=1) * ROOT365).to_numpy()
    expected_sharpe = (excess.rolling(90).mean() / excess.rolling(90).std(ddof=1) * ROOT365).to_numpy()
    got_vol = out["volatility"].to_numpy().astype(float)
    got_sharpe = out["sharpe"].to_numpy().astype(float)
    assert np.isnan(got_vol[:89]).all() and np.isnan(expected_vol[:89]).all()
    np.testing.assert_allclose(got_vol[89:], expected_vol[89:], rtol=1e-9)
    np.testing.assert_allclose(got_sharpe[89:], expected_sharpe[89:], rtol=1e-8)
    # no risk-free series: over zero, so Sharpe = mean / std
    zero = rolling_risk(rets, None)
    np.testing.assert_allclose(zero["sharpe"].to_numpy()[89:].astype(float),
                               (s.rolling(90).mean() / s.rolling(90).std() * ROOT365).to_numpy()[89:], rtol=1e-8)


def test_a_flat_window_has_no_sharpe_rather_than_infinity() -> None:
    out = rolling_risk(_returns([0.001] * 4), None, window=3)
    assert out["volatility"][3] == pytest.approx(0.0, abs=1e-12) and out["sharpe"][3] is None


DAYS = [date(2020, 12, 30), date(2020, 12, 31), date(2021, 1, 1), date(2021, 1, 2)]
DEC = lambda xs: pl.Series([None if x is None else Decimal(str(x)) for x in xs], dtype=pl.Decimal(38, 2))  # noqa: E731


def _synthetic() -> SimpleNamespace:
    """R$100 a day, contributions at the start of the day. Strategy returns 0, +10%, −6.25%, +10%."""
    equity = pl.DataFrame({"date": DAYS, "invested_brl": DEC([100, 200, 300, 400]), "value_brl": DEC([100, 220, 300, 440]),
                           "daily_return": [None, 0.10, -0.0625, 0.10], "twr": [0.0, 0.10, 0.03125, 0.134375]})
    bench = pl.DataFrame({
        "date": DAYS, "invested_brl": DEC([100, 200, 300, 400]),
        "btc_dca_brl": DEC([100, 200, 330, 430]),  # r: 0, 0, 330/300 − 1 = +10%, 430/430 − 1 = 0
        "top20_dca_brl": DEC([None] * 4),  # no data at all: not a curve
        "ibovespa_dca_brl": DEC([None, 200, 210, 420]),  # first value on day 2 with R$200 in: r 0, 210/300 − 1, 420/310 − 1
        "btc_lump_sum_brl": DEC([400, 440, 396, 396]),  # R$400 on day 1: r 0, +10%, −10%, 0
    })
    return SimpleNamespace(equity=equity, benchmarks=bench)


def test_yearly_returns_of_strategy_and_benchmarks_by_hand() -> None:
    s = _synthetic()
    curves = value_curves(s.equity, s.benchmarks)
    assert curves.columns == ["date", "strategy", "invested", "btc_dca", "ibovespa_dca", "btc_lump_sum"]
    y = yearly_returns(curves, s.equity)
    assert y["year"].to_list() == [2020, 2021] and y["days"].to_list() == [2, 2]
    assert y["strategy"].to_list() == pytest.approx([0.10, 0.9375 * 1.1 - 1])  # 1.134375 / 1.1 − 1 = 3.125%
    assert y["btc_dca"].to_list() == pytest.approx([0.0, 0.10])
    assert y["ibovespa_dca"].to_list() == pytest.approx([0.0, 294 / 310 - 1])  # 0.7 × 420/310 − 1
    assert y["btc_lump_sum"].to_list() == pytest.approx([0.10, -0.10])  # flows: all R$400 on day 1, not daily slices
    # without the engine's TWR the strategy's chain is recomputed from its value curve: same numbers
    assert yearly_returns(curves)["strategy"].to_list() == pytest.approx(y["strategy"].to_list())


def test_drawdown_from_the_running_peak() -> None:
    dd = drawdown(pl.Series([0.0, 0.10, -0.10, 0.21, 0.089]))
    assert dd.to_list() == pytest.approx([0.0, 0.0, 0.9 / 1.1 - 1, 0.0, 1.089 / 1.21 - 1])


def test_series_bundle_and_charts() -> None:
    from matplotlib.figure import Figure
    from PIL import Image

    from dca_pipeline.backtest.tearsheet_charts import draw_value, draw_yearly, tearsheet_png

    s = _synthetic()
    ts = TearsheetSeries(s.equity, s.benchmarks, None, window=2)
    assert set(ts.rolling) == {"strategy", "btc_dca"}
    # window 2 over the strategy's returns [0.10, −0.0625, 0.10]
    assert ts.rolling["strategy"]["volatility"].to_list()[1:] == pytest.approx(
        [np.std([0.10, -0.0625], ddof=1) * ROOT365, np.std([-0.0625, 0.10], ddof=1) * ROOT365])
    assert ts.drawdowns["strategy"].to_list() == pytest.approx([0.0, 0.0, 1.03125 / 1.1 - 1, 0.0])
    fig = Figure()
    ax = fig.add_subplot()
    draw_value(ax, ts)
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["strategy", "invested capital", "BTC-only DCA", "Ibovespa DCA", "BTC lump sum"]
    ax2 = Figure().add_subplot()
    draw_yearly(ax2, ts)
    heights = [p.get_height() for p in ax2.patches]  # bars grouped by curve: strategy's years, then btc_dca's, ...
    assert heights[:4] == pytest.approx([0.10, 0.03125, 0.0, 0.10])
    png = tearsheet_png(ts, "t", "headline")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (1080, 1530)  # 12 × 17 in at 90 dpi


def test_tearsheet_markdown_embeds_the_png_and_the_tables(tmp_path) -> None:  # noqa: ANN001
    from dca_pipeline.backtest.report import tearsheet_markdown

    s = _synthetic()
    result = SimpleNamespace(equity=s.equity, benchmarks=s.benchmarks, metrics={"cagr": 0.5, "irr": 0.25})
    bounds = pl.DataFrame({"policy": ["last_price", "write_off"], "final_value_brl": [440.0, 400.0], "twr": [0.13, 0.03],
                           "max_drawdown": [-0.06, -0.1], "positions_touched": [1, 1], "symbols": ["LUNA/BRL", "LUNA/BRL"]})
    png = b"\x89PNG\r\n\x1a\nfake"
    md = tearsheet_markdown(result, png, html_path=tmp_path / "t.html", png_path=tmp_path / "t.png", survivorship=bounds)
    data = md.split("data:image/png;base64,")[1].split(")")[0]
    assert base64.b64decode(data) == png
    assert f"PNG: `{tmp_path / 't.png'}`" in md and "| irr | 25.00% |" in md
    assert "| year | strategy | BTC-only DCA | Ibovespa DCA | BTC lump sum |" in md
    assert "| 2020 (2 days) | 10.0% | 0.0% | 0.0% | 10.0% |" in md
    assert "| 2021 (2 days) | 3.1% | 10.0% | -5.2% | -10.0% |" in md
    assert "| write_off | 400 | 3.0% | -10.0% | 1 (LUNA/BRL) |" in md
    assert "no point-in-time snapshots" in md  # coverage not given
