"""DCA_ENV overlays: each environment loads with its source and broker; unknown names fail clearly."""
from pathlib import Path

import pytest
import yaml

from dca_pipeline.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings
from dca_pipeline.config import ENVIRONMENTS, deep_merge, env_metadata, env_tags, overlay_path

EXPECTED = {"dev": ("replay", "paper"), "paper": ("ccxt", "paper"), "live": ("ccxt", "live")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_overlay_loads_with_its_source_and_broker(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_ENV", env)
    settings = load_settings()
    assert (settings.source, settings.broker) == EXPECTED[env]
    overlay = yaml.safe_load(overlay_path(env).read_text())
    base = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    # everything the overlay does not name comes from the base file
    assert str(settings.budget_brl_per_month) == base["budget_brl_per_month"]
    assert set(overlay) <= {"source", "broker"}
    assert env_tags() == {"dca/env": env} and env_metadata() == {"dca_env": env}


def test_default_is_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DCA_ENV", raising=False)
    assert (load_settings().source, load_settings().broker) == ("replay", "paper")
    assert env_tags() == {"dca/env": "dev"}


def test_unknown_env_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCA_ENV", "production")
    with pytest.raises(ConfigError, match=r"DCA_ENV='production'.*dev, paper, live"):
        load_settings()


def test_deep_merge_recurses_into_sections(tmp_path: Path) -> None:
    base = {"portfolio": {"max_weight": "0.05", "min_assets": 8}, "excluded_bases": ["USDT"], "flags": {"maker_first": False}}
    merged = deep_merge(base, {"portfolio": {"max_weight": "0.10"}, "excluded_bases": ["DAI"]})
    assert merged == {"portfolio": {"max_weight": "0.10", "min_assets": 8}, "excluded_bases": ["DAI"], "flags": {"maker_first": False}}
    assert base["portfolio"]["max_weight"] == "0.05"  # the base is not mutated


def test_flags_have_defaults_and_are_validated(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.flags.optimizer_method == "config" and settings.flags.maker_first is None
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["flags"]["optimizer_method"] = "random"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="flags.optimizer_method"):
        load_settings(bad)
