"""Deployment environments: `DCA_ENV=dev|paper|live` picks an overlay YAML deep-merged onto the base config.

dev = replay data + paper broker (default), paper = live data (ccxt) + paper broker, live = live data + live
broker. The active environment is attached to runs as the `dca/env` tag and to asset metadata.
"""
from __future__ import annotations

import os
from copy import deepcopy
from pathlib import Path
from typing import Any


ENVIRONMENTS = ("dev", "paper", "live")
DEFAULT_ENV = "dev"
ENV_TAG = "dca/env"
OVERLAY_DIR = Path(__file__).resolve().parents[1] / "environments"
ENCRYPTION_REQUIRED_ENVS = frozenset({"paper", "live"})


def active_env(environ: dict[str, str] | None = None) -> str:
    """The validated value of $DCA_ENV (default `dev`); an unknown name raises ConfigError."""
    from dca_pipeline.config import ConfigError

    env = (environ if environ is not None else os.environ).get("DCA_ENV", "").strip().lower() or DEFAULT_ENV
    if env not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment DCA_ENV={env!r}; allowed: {', '.join(ENVIRONMENTS)}")
    return env


def overlay_path(env: str) -> Path:
    return OVERLAY_DIR / f"{env}.yaml"


def load_overlay(env: str) -> dict[str, Any]:
    """The overlay mapping of `env` (empty when the file is empty)."""
    from dca_pipeline.config import read_yaml_mapping

    path = overlay_path(env)
    return read_yaml_mapping(path, "environment overlay", not_found=f"environment overlay not found for DCA_ENV={env!r}: {path}",
                             empty_ok=True)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: `overlay` on top of `base`, recursing into nested mappings (lists are replaced whole)."""
    out = deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = deepcopy(value)
    return out


def apply_env_overlay(raw: dict[str, Any], env: str | None = None) -> dict[str, Any]:
    """The raw config with the active (or given) environment's overlay merged on top."""
    return deep_merge(raw, load_overlay(env or active_env()))


def env_tags() -> dict[str, str]:
    """Run tags naming the active environment (attach to jobs so every run shows it in the UI)."""
    return {ENV_TAG: active_env()}


def env_metadata() -> dict[str, str]:
    """Asset-materialization metadata naming the active environment."""
    return {"dca_env": active_env()}


def encryption_required(env: str | None = None) -> bool:
    """Ledger encryption policy: required in paper and live, optional in dev."""
    return (env or active_env()) in ENCRYPTION_REQUIRED_ENVS
