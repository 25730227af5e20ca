"""Configuration: the default loads; a wrong value fails at load naming the field and the allowed range."""
from pathlib import Path

import pytest
import yaml

from dca_pipeline.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings


def _write(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_config_has_the_seed_values() -> None:
    s = load_settings()
    assert s.budget_centavos == 100_000
    assert [t.name for t in s.tiers] == ["tier_1", "tier_2", "tier_3"]
    assert [str(t.allocation_target) for t in s.tiers] == ["0.50", "0.30", "0.15"]
    assert [t.max_assets for t in s.tiers] == [8, 6, 4]
    assert str(s.fees.maker) == "0.003" and str(s.fees.taker) == "0.007"
    assert str(s.portfolio.max_weight) == "0.05" and s.portfolio.min_assets == 8
    assert s.timezone == "America/Sao_Paulo" and s.source == "replay" and s.broker == "paper"


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"portfolio__max_weight": "1.5"}, "portfolio.max_weight", "less than or equal to 1"),
        ({"budget_brl_per_month": "-5"}, "budget_brl_per_month", "greater than 0"),
        ({"source": "binance"}, "source", "'replay' or 'ccxt'"),
        ({"broker": "real"}, "broker", "'paper' or 'live'"),
        ({"fees__taker": "0.5"}, "fees.taker", "less than or equal to 0.05"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA timezone"),
        ({"min_order_brl": "0"}, "min_order_brl", "greater than 0"),
    ],
)
def test_wrong_value_names_field_and_range(tmp_path: Path, change: dict, field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, **change))
    message = str(err.value)
    assert field in message and hint in message


def test_unknown_key_and_tier_sum_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, budgett=1)
    with pytest.raises(ConfigError, match="budgett"):
        load_settings(path)
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["tiers"][0]["allocation_target"] = "0.9"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="sum to 1.35"):
        load_settings(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("changes", "message"), [
    ({"broker": "live", "execution__model": "twap"}, "execution.model: twap is simulated only"),
    ({"broker": "live", "execution__model": "maker_first", "execution__order_style": "market"},
     "maker_first with broker: live needs execution.order_style: limit_then_market"),
])
def test_a_live_broker_rejects_an_execution_model_it_cannot_run(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(_write(tmp_path, **changes))
    assert str(_write(tmp_path, **changes)) in str(err.value)  # names the file


def test_execution_models_the_live_broker_runs_or_paper_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_write(tmp_path, broker="paper", execution__model="twap")).execution.model == "twap"
    monkeypatch.setenv("DCA_ENV", "live")  # else the dev overlay sets broker: paper
    live = load_settings(_write(tmp_path, broker="live", execution__model="maker_first", execution__order_style="limit_then_market"))
    assert (live.broker, live.execution.model) == ("live", "maker_first")
    assert load_settings(_write(tmp_path, broker="live", execution__model="market_open")).execution.model == "market_open"


def test_the_live_overlay_on_a_twap_configuration_is_rejected_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DCA_ENV=live turns broker live on top of a file that is valid alone (paper + twap): the merge is rejected."""
    path = _write(tmp_path, execution__model="twap")
    assert load_settings(path).execution.model == "twap"
    monkeypatch.setenv("DCA_ENV", "live")
    with pytest.raises(ConfigError, match=r"live\.yaml(?s:.*)execution.model: twap is simulated only"):
        load_settings(path)


def test_a_live_broker_resource_over_a_twap_configuration_refuses_to_trade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Broker resource may say live while the file says paper (validated as paper): make_broker refuses then."""
    import polars as pl

    from dca_pipeline.execution.resources import Broker
    from dca_pipeline.execution.wiring import make_broker

    monkeypatch.setenv("DCA_LIVE_TRADING", "1")
    settings = load_settings(_write(tmp_path, execution__model="twap"))
    with pytest.raises(ValueError, match="refusing to trade live: execution.model: twap is simulated only"):
        make_broker(Broker(mode="live"), settings, pl.DataFrame())
