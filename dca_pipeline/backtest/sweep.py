"""Parameter sweeps: several configurations backtested on the same data, compared side by side."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from itertools import product

import polars as pl
import yaml

from dca_pipeline.backtest.window import data_range_of, require_within
from dca_pipeline.backtest.engine import BacktestResult, MarketHistory, history_days_for, run_backtest
from dca_pipeline.config import ConfigError, Settings
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource

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


def shared_history(variants: dict[str, Settings], start: date, end: date, source: MarketDataSource | None = None,
                   with_regime: bool = False) -> MarketHistory:
    """One MarketHistory covering every variant's lookbacks over [start, end]: loaded, validated and featured once."""
    days = max(history_days_for(s, with_regime) for s in variants.values())
    return MarketHistory(source or ReplaySource(), start - timedelta(days=days), end + timedelta(days=1))


def run_sweep(
    variants: dict[str, Settings], start: date, end: date, progress: Callable[[str], None] | None = None, *,
    source: MarketDataSource | None = None, with_regime: bool = False, history: MarketHistory | None = None,
) -> tuple[pl.DataFrame, dict[str, BacktestResult]]:
    """Backtest each variant over the same period; returns the comparison table and the full results.

    Every variant runs on one shared `MarketHistory` (one data load and feature pass; GARCH forecasts and regime
    fits made for one variant are reused by the others): the variants differ only by their settings."""
    if not variants:
        raise ConfigError("a sweep needs at least one variant")
    require_within(start, end, data_range_of(history.source if history is not None else source or ReplaySource()))
    history = history or shared_history(variants, start, end, source, with_regime)
    results = {}
    for name, settings in variants.items():
        if progress:
            progress(f"variant {name}")
        results[name] = run_backtest(settings, start, end, with_regime=with_regime, history=history)
    table = pl.DataFrame([{"variant": n, **{k: r.metrics.get(k) for k in HEADLINE}} for n, r in results.items()])
    return table, results
