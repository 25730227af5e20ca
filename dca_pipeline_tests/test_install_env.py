"""scripts/install_env.py's `--pip-extra`: the `lstm` extra (PyTorch) goes through pip with constraints.txt, and the
uv install of the base environment never asks for torch (uv would download a multi-GB CUDA build)."""
from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("install_env", ROOT / "scripts" / "install_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lstm_extra_is_pip_installed_with_the_pinned_torch() -> None:
    env = _script()
    pyproject = ROOT / "pyproject.toml"
    assert env.extra_requirements("lstm", pyproject) == ["torch==2.13.0"]
    cmd = env.pip_extra_command("lstm", pyproject)
    assert cmd[1:4] == ["-m", "pip", "install"] and cmd[-3:] == ["-c", "constraints.txt", "torch==2.13.0"]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    assert pins["torch"] == "2.13.0"  # the extra's pin and the constraint agree


def test_the_uv_install_never_requests_torch() -> None:
    env = _script()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requested = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    assert not [r for r in requested if r.split("=")[0].split("[")[0].strip().lower() == "torch"]
    assert env.TARGET[-1] == ".[dev]"  # the uv/pip base install takes the dev extra only, not lstm


def test_unknown_extra_names_the_ones_there_are() -> None:
    with pytest.raises(SystemExit, match="no optional extra 'gpu'.*dev, lstm"):
        _script().extra_requirements("gpu", ROOT / "pyproject.toml")
