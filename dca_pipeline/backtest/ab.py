"""A/B backtests of two flag sets on the same data: each set is a partial YAML (e.g. a `flags:` section, or any
setting) merged onto the base config; the report shows both rows of headline metrics and their difference B − A."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from dca_pipeline.backtest.engine import BacktestResult
from dca_pipeline.backtest.sweep import HEADLINE, run_sweep
from dca_pipeline.config import ConfigError, Settings, deep_merge, read_yaml_mapping, resolve_flags


def apply_flag_set(base: Settings, overlay: dict[str, Any], name: str = "flag set") -> Settings:
    """`overlay` deep-merged onto `base`, validated; errors name the flag set and the field."""
    try:
        merged = Settings.model_validate(deep_merge(base.model_dump(mode="json"), overlay))
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {name}: {fields}") from exc
    return resolve_flags(merged)


def load_flag_set(path: Path) -> dict[str, Any]:
    """A flag-set YAML file (a mapping; empty file = the base config unchanged)."""
    return read_yaml_mapping(path, "flag set", not_found=f"flag set file not found: {path}", empty_ok=True)


def run_ab(base: Settings, a: dict[str, Any], b: dict[str, Any], start: date, end: date,
           progress: Callable[[str], None] | None = None) -> tuple[pl.DataFrame, dict[str, BacktestResult]]:
    """Backtest flag sets A and B over the same period; the table has rows A, B and `B - A` (headline metrics)."""
    variants = {"A": apply_flag_set(base, a, "flag set A"), "B": apply_flag_set(base, b, "flag set B")}
    table, results = run_sweep(variants, start, end, progress)
    diff: dict[str, Any] = {"variant": "B - A"}
    for metric in HEADLINE:
        va, vb = results["A"].metrics.get(metric), results["B"].metrics.get(metric)
        diff[metric] = None if va is None or vb is None else float(vb) - float(va)
    table = pl.concat([table.with_columns(pl.col(m).cast(pl.Float64) for m in HEADLINE),
                       pl.DataFrame([diff], schema=table.schema | {m: pl.Float64 for m in HEADLINE})])
    return table, results
