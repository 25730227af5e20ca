"""Install the pinned environment (`-c constraints.txt -e ".[dev]"`) into the venv running this script.

Fast path: `uv` (pinned below, installed into the venv with pip), pointed at the same package sources pip
uses on this machine — index URL, extra index URLs, find-links, no-index, certificate, timeout, proxy and
pip's own constraint file are read from `pip config list` (pip's files and PIP_* environment variables,
with pip's precedence: global < install < environment). If uv cannot be installed or fails, the same install
runs with pip. Needs only Python and the package index. Usage (from the Makefile):
    .venv/bin/python scripts/install_env.py

`--pip-extra lstm` (make test / test-slow / dev, not make demo) installs only the requirements of that optional
extra in pyproject.toml, pinned by constraints.txt, always with pip: PyTorch's CPU build lies in the wheel directory
pip's configuration names (find-links), which uv does not take for torch (it would download a multi-GB CUDA build).
"""
from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

UV = "uv==0.13.9"
TARGET = ["-c", "constraints.txt", "-e", ".[dev]"]
_SECTION_RANK = {"global": 0, "install": 1, ":env:": 2}


def pip_config() -> dict[str, str]:
    """pip's effective settings for `pip install` (key → value), as pip itself reports them."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    best: dict[str, tuple[int, str]] = {}
    for line in out.splitlines():
        key, sep, raw = line.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or section not in _SECTION_RANK:
            continue
        try:
            value = str(ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            value = raw.strip("'\"")
        rank = _SECTION_RANK[section]
        if name not in best or rank >= best[name][0]:
            best[name] = (rank, value)
    return {name: value for name, (_, value) in best.items()}


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def uv_arguments(config: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """pip settings → uv command-line flags and environment (same sources, same constraints)."""
    args = ["--index-strategy", "unsafe-best-match"]  # pip's rule: best version across all indexes
    env: dict[str, str] = {}
    if _truthy(config.get("no-index", "")):
        args.append("--no-index")
    if config.get("index-url"):
        args += ["--index-url", config["index-url"].split()[0]]
    for url in config.get("extra-index-url", "").split():
        args += ["--extra-index-url", url]
    for link in config.get("find-links", "").split():
        args += ["--find-links", link]
    for constraint in config.get("constraint", "").split():
        args += ["-c", constraint]
    for host in config.get("trusted-host", "").split():
        args += ["--allow-insecure-host", host]
    if config.get("cert"):
        env["SSL_CERT_FILE"] = config["cert"]
    timeout = config.get("timeout") or config.get("default-timeout")
    if timeout:
        env["UV_HTTP_TIMEOUT"] = timeout.split(".")[0]
    if config.get("proxy"):
        env["HTTP_PROXY"] = env["HTTPS_PROXY"] = config["proxy"]
    return args, env


def install_with_uv() -> bool:
    python = Path(sys.executable)
    try:
        subprocess.run([python, "-m", "pip", "install", "-q", UV], check=True)
        args, env = uv_arguments(pip_config())
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"install: uv unavailable ({err}); falling back to pip", file=sys.stderr)
        return False
    uv = python.parent / "uv"
    cmd = [str(uv), "pip", "install", "-q", "--python", str(python), *args, *TARGET]
    result = subprocess.run(cmd, env={**os.environ, **env})
    if result.returncode != 0:
        print(f"install: uv failed (exit {result.returncode}); falling back to pip", file=sys.stderr)
        return False
    return True


def extra_requirements(name: str, pyproject: Path = Path("pyproject.toml")) -> list[str]:
    """The requirements of `[project.optional-dependencies].<name>`; an unknown extra names the ones there are."""
    extras = tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {})
    if name not in extras:
        raise SystemExit(f"install: no optional extra {name!r} in {pyproject} (extras: {', '.join(sorted(extras))})")
    return list(extras[name])


def pip_extra_command(name: str, pyproject: Path = Path("pyproject.toml")) -> list[str]:
    """pip install of the extra's requirements under constraints.txt (with pip's own index and find-links)."""
    return [sys.executable, "-m", "pip", "install", "-q", "-c", "constraints.txt", *extra_requirements(name, pyproject)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="install the pinned environment into this interpreter's venv")
    parser.add_argument("--pip-extra", help="install only this optional extra's requirements, with pip")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.pip_extra:
        subprocess.run(pip_extra_command(args.pip_extra), check=True)
        print(f"install: extra {args.pip_extra} installed with pip in {time.perf_counter() - t0:.1f} s")
        return 0
    tool = "uv"
    if os.environ.get("DCA_INSTALLER") == "pip" or not install_with_uv():
        tool = "pip"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *TARGET], check=True)
    print(f"install: packages installed with {tool} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
