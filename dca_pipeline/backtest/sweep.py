"""Parameter sweeps: several configurations backtested on the same data, compared side by side."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from itertools import product

import polars as pl
import yaml

from dca_pipeline.backtest.engine import BacktestResult, run_backtest
from dca_pipeline.config import ConfigError, Settings

HEADLINE = ("cagr", "volatility", "sharpe", "max_drawdown", "irr", "total_fees_brl", "final_value_brl")


def override(settings: Settings, dotted: str, value: str) -> Settings:
    """A copy of `settings` with one field changed (e.g. `portfolio.objective`, `max_sharpe`), re-validated."""
    data = settings.model_dump(mode="json")
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        if not isinstance(node, dict) or p not in node:
            raise ConfigError(f"unknown setting {dotted!r}")
        node = node[p]
    if not isinstance(node, dict) or leaf not in node:
        raise ConfigError(f"unknown setting {dotted!r}")
    node[leaf] = yaml.safe_load(value)
    try:
        return Settings.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - pydantic's message names the field and the range
        raise ConfigError(f"invalid value {value!r} for {dotted}: {exc}") from exc


def sweep_settings(base: Settings, grid: dict[str, list[str]]) -> dict[str, Settings]:
    """Every combination of the grid's values, named like `portfolio.objective=max_sharpe`."""
    keys = list(grid)
    out: dict[str, Settings] = {}
    for values in product(*(grid[k] for k in keys)):
        s = base
        for k, v in zip(keys, values):
            s = override(s, k, v)
        out[", ".join(f"{k}={v}" for k, v in zip(keys, values)) or "base"] = s
    return out


def run_sweep(
    variants: dict[str, Settings], start: date, end: date, progress: Callable[[str], None] | None = None
) -> tuple[pl.DataFrame, dict[str, BacktestResult]]:
    """Backtest each variant over the same period; returns the comparison table and the full results."""
    results = {}
    for name, settings in variants.items():
        if progress:
            progress(f"variant {name}")
        results[name] = run_backtest(settings, start, end)
    table = pl.DataFrame([{"variant": n, **{k: r.metrics.get(k) for k in HEADLINE}} for n, r in results.items()])
    return table, results
