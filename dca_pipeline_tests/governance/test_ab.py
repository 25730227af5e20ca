"""A/B backtests: two flag sets on the same data, with the metric differences; the CLI option."""
from datetime import date
from pathlib import Path

import pytest

from dca_pipeline.backtest.sweep import HEADLINE
from dca_pipeline.cli import main as cli_main
from dca_pipeline.config import ConfigError, load_settings
from dca_pipeline.backtest.ab import apply_flag_set, run_ab
from dca_pipeline.config import resolve_flags


def test_flag_sets_merge_and_resolve() -> None:
    base = load_settings()
    b = apply_flag_set(base, {"flags": {"optimizer_method": "max_sharpe", "maker_first": True}})
    assert b.portfolio.objective == "max_sharpe" and b.flags.maker_first is True
    assert b.portfolio.max_weight == base.portfolio.max_weight  # untouched settings come from the base
    assert resolve_flags(base) is base
    with pytest.raises(ConfigError, match="flag set B: flags.regime_scaling"):
        apply_flag_set(base, {"flags": {"regime_scaling": "sometimes"}}, "flag set B")


def test_ab_runs_both_on_the_same_data_and_reports_b_minus_a() -> None:
    table, results = run_ab(load_settings(), {}, {"flags": {"optimizer_method": "max_sharpe"}}, date(2021, 1, 1), date(2021, 2, 28))
    assert table["variant"].to_list() == ["A", "B", "B - A"]
    a, b = results["A"], results["B"]
    assert a.equity["invested_brl"].to_list() == b.equity["invested_brl"].to_list()  # same days, same budget
    assert a.targets["weight"].to_list() != b.targets["weight"].to_list()  # the flag changed the decisions
    diff = table.row(2, named=True)
    for metric in HEADLINE:
        if a.metrics.get(metric) is not None:
            assert diff[metric] == pytest.approx(float(b.metrics[metric]) - float(a.metrics[metric]))
    assert diff["final_value_brl"] == pytest.approx(float(b.equity["value_brl"][-1]) - float(a.equity["value_brl"][-1]), abs=0.01)


def test_cli_ab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "A.yaml", tmp_path / "B.yaml"
    a.write_text("flags:\n  optimizer_method: config\n")
    b.write_text("min_order_brl: '20.00'\n")
    assert cli_main(["backtest", "--start", "2021-01-01", "--end", "2021-01-31", "--ab", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "B - A" in out and f"A = {a}" in out
    b.write_text("flags: [1, 2]\n")
    assert cli_main(["backtest", "--start", "2021-01-01", "--end", "2021-01-31", "--ab", str(a), str(b)]) == 2


def test_flags_switch_the_knobs_they_name_when_the_config_loads(tmp_path) -> None:  # noqa: ANN001
    import yaml

    from dca_pipeline.config import DEFAULT_CONFIG_PATH, load_settings

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["flags"] = {**raw.get("flags", {}), "optimizer_method": "max_sharpe", "regime_scaling": True, "maker_first": False}
    path = tmp_path / "flags.yaml"
    path.write_text(yaml.safe_dump(raw))
    s = load_settings(path)
    assert s.portfolio.objective == "max_sharpe" and s.portfolio.sizing.regime_scaling and s.execution.order_style == "market"
    base = load_settings()
    assert base.portfolio.objective == "min_volatility" and not base.portfolio.sizing.regime_scaling
    assert base.execution.order_style == "limit_then_market"
