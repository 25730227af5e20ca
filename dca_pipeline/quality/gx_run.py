"""Run a Great Expectations suite on a polars frame and turn the result into a Dagster asset-check result.

The GX context is a file context under `$DCA_HOME/gx/` (suites, validation results and the Data Docs site),
so every validation also refreshes the static Data Docs site linked from the check's metadata. Frames go to
GX through pandas (GX Core has no polars datasource). Validations are serialised by a file lock: the context's
files are shared by every process of a run.
"""
from __future__ import annotations

import copy
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from dca_pipeline.metadata import markdown_table
from dca_pipeline.paths import dca_home
from dca_pipeline.quality.expectations import Suite, gx_module

SAMPLE_ROWS = 10
DATASOURCE = "dca_frames"
KEEP_RESULTS = 60  # validation results kept per suite (and shown in Data Docs); rebuilding the index reads them all


def gx_root(home: Path | None = None) -> Path:
    """The GX project folder: `$DCA_HOME/gx`."""
    return (home or dca_home()) / "gx"


def data_docs_index(home: Path | None = None) -> Path:
    return _site(gx_root(home)) / "index.html"


def _site(root: Path) -> Path:
    return root / "uncommitted" / "data_docs" / "local_site"


def prune_results(root: Path, suite: str, keep: int = KEEP_RESULTS) -> int:
    """Delete all but the newest `keep` stored results of `suite` and their Data Docs pages (every validation
    rebuilds the index from all stored results, so an unbounded store makes each check slower); returns how many."""
    store, pages = root / "uncommitted" / "validations" / suite, _site(root) / "validations" / suite
    results = sorted(store.glob("*/*/*.json"), key=lambda p: p.stat().st_mtime)
    old = results[: max(0, len(results) - keep)]
    for result in old:
        rel = result.relative_to(store)
        for path in (result, pages / rel.with_suffix(".html")):
            path.unlink(missing_ok=True)
            for parent in (path.parent, path.parent.parent):
                if parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
    return len(old)


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict: how many values broke it and up to SAMPLE_ROWS of the offending rows."""

    expectation: str
    column: str
    success: bool
    unexpected_count: int
    observed: str = ""
    sample: pl.DataFrame = field(default_factory=pl.DataFrame)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    success: bool
    rows: int
    outcomes: list[ExpectationOutcome]
    docs_url: str
    page_url: str = ""

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def unexpected_count(self) -> int:
        return sum(o.unexpected_count for o in self.failed)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_pandas(frame: pl.DataFrame) -> Any:
    """GX's pandas engine: Decimal columns as floats (object columns of Decimal break its numeric metrics)."""
    decimals = [n for n, t in frame.schema.items() if isinstance(t, pl.Decimal)]
    return frame.with_columns(pl.col(decimals).cast(pl.Float64)).to_pandas() if decimals else frame.to_pandas()


def validate(frame: pl.DataFrame, suite: Suite, run_name: str, home: Path | None = None) -> SuiteOutcome:
    """Validate `frame` (plus the suite's derived columns) against `suite` in the file context under $DCA_HOME/gx
    and rebuild the Data Docs site; `run_name` (e.g. `raw_ohlcv_1d 2021-09-10`) names the result in Data Docs."""
    gx = gx_module()
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    name, rules = suite.name, suite.rules
    if suite.derived:
        frame = frame.with_columns(**suite.derived)
    root = gx_root(home)
    with _locked(root):
        prune_results(root, name, KEEP_RESULTS - 1)
        ctx = gx.get_context(mode="file", project_root_dir=str(root.parent))
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = ctx.data_sources.add_or_update_pandas(DATASOURCE)
        asset = source.add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe(name)
        gx_suite = ctx.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=[_fresh(r) for r in rules]))
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
        )
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(name=name, validation_definitions=[definition],
                          actions=[UpdateDataDocsAction(name="data_docs")],
                          result_format={"result_format": "COMPLETE"})
        )
        result = checkpoint.run(batch_parameters={"dataframe": _to_pandas(frame)},
                                run_id=RunIdentifier(run_name=run_name))
    validation = next(iter(result.run_results.values()))
    outcomes = [_outcome(r, frame) for r in validation.results]
    pages = sorted((_site(root) / "validations" / name / run_name).glob("*/*.html"))
    page = pages[-1].as_uri() if pages else ""
    return SuiteOutcome(name, bool(validation.success), len(frame), outcomes, data_docs_index(home).as_uri(), page)


def _fresh(rule: Any) -> Any:
    """A copy not bound to an earlier suite (GX refuses an expectation that already has a suite id)."""
    fresh = copy.copy(rule)
    fresh.id = None
    return fresh


def _outcome(result: Any, frame: pl.DataFrame) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or \
        ",".join(c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c)
    info = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        msg = str(result.exception_info.get("exception_message"))
        return ExpectationOutcome(config.type, column, False, len(frame), f"error: {msg}")
    indices = [i for i in (info.get("unexpected_index_list") or []) if isinstance(i, int)][:SAMPLE_ROWS]
    sample = frame[indices] if indices else pl.DataFrame()
    observed = "" if info.get("observed_value") is None else str(info.get("observed_value"))
    count = int(info.get("unexpected_count") or 0)
    if not result.success and count == 0 and not indices:
        count = 1  # a table-level expectation (sum, column present) failed as a whole
    return ExpectationOutcome(config.type, column, bool(result.success), count, observed, sample)


def check_result(outcome: SuiteOutcome, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    """The check's verdict with the unexpected count per failed expectation, sample rows and the Data Docs link."""
    table = pl.DataFrame(
        [{"expectation": o.expectation, "column": o.column, "success": o.success,
          "unexpected_count": o.unexpected_count, "observed": o.observed[:60]} for o in outcome.outcomes],
        schema={"expectation": pl.String, "column": pl.String, "success": pl.Boolean,
                "unexpected_count": pl.Int64, "observed": pl.String},
    )
    samples = "\n\n".join(
        f"**{o.expectation}** ({o.column}): {o.unexpected_count} unexpected\n\n{markdown_table(o.sample).value}"
        for o in outcome.failed if not o.sample.is_empty()
    )
    return AssetCheckResult(
        passed=outcome.success,
        severity=severity,
        metadata={
            "suite": outcome.suite,
            "rows": outcome.rows,
            "expectations": len(outcome.outcomes),
            "failed_expectations": len(outcome.failed),
            "unexpected_count": outcome.unexpected_count,
            "results": markdown_table(table, 50),
            "sample_rows": MetadataValue.md(samples or "none"),
            "data_docs": MetadataValue.url(outcome.docs_url),
            **({"data_docs_validation": MetadataValue.url(outcome.page_url)} if outcome.page_url else {}),
        },
    )
