"""The `connectors` configuration block: defaults, validation with a clear error, and the resource it fills."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dca_pipeline.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings
from dca_pipeline.ingestion.resources import MarketData


def _write(tmp_path: Path, **connectors) -> Path:  # noqa: ANN003
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["connectors"] = connectors
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_defaults_keep_replay_data_and_mercado_bitcoin(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path))
    assert settings.connectors.exchange_id == "mercadobitcoin" and settings.connectors.fx == "replay"
    assert settings.connectors.resource_kwargs()["failover_exchange_ids"] == []


def test_settings_fill_the_market_data_resource(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, failover_exchange_ids=["binance"], max_attempts=3, fx="ptax"))
    resource = MarketData(source="ccxt", **settings.connectors.resource_kwargs())
    assert (resource.failover_exchange_ids, resource.max_attempts, resource.fx) == (["binance"], 3, "ptax")


def test_bad_values_are_rejected_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="connectors.fx"):
        load_settings(_write(tmp_path, fx="yahoo"))
    with pytest.raises(ConfigError, match="connectors.max_attempts"):
        load_settings(_write(tmp_path, max_attempts=0))
    with pytest.raises(ConfigError, match="connectors.api_key"):
        load_settings(_write(tmp_path, api_key="secret"))  # no place for secrets in the file
