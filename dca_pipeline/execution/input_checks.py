"""Blocking check on what the source delivered for the coins the money path needs: every coin held (ledger,
through the day before) or targeted this month (target_weights > 0) has a valid daily bar on the day. A
missing or quarantined close stops that day's orders; other listed coins missing only warn
(`no_missing_symbol_days`). Defined here because it reads the ledger and the targets (layers above ingestion)."""

from datetime import date, timedelta

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from dca_pipeline.execution import ledger, ledger_views
from dca_pipeline.ingestion.assets import raw_ohlcv_1d
from dca_pipeline.metadata import markdown_table
from dca_pipeline.partitions import DAILY
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.raw_store import read_quarantine

MISSING_SCHEMA = {"symbol": pl.String, "date": pl.Date, "needed_as": pl.String, "reason": pl.String}


def needed_symbols(db, first: date, last: date) -> dict[date, dict[str, str]]:  # noqa: ANN001
    """Day → symbol → why the day needs its price, for every day of first..last: `held` (ledger through the eve)
    and/or `targeted` (the month's targets). One read of the targets; the ledger is read only for days after its
    first event."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    need: dict[date, dict[str, str]] = {d: {} for d in days}
    if not db.exists():
        return need
    opened = ledger_views.first_event_day(db)
    for d in days:
        if opened is not None and d > opened:
            need[d] = {s: "held" for s in ledger.holdings(db, d - timedelta(days=1))["symbol"].to_list()}
    if duck.table_exists(db, "portfolio", "target_weights"):
        rows = duck.query(db, "select month, symbol from portfolio.target_weights where month between ? and ? and weight > 0",
                          [first.replace(day=1), last])
        targeted: dict[date, list[str]] = {}
        for month, s in rows.iter_rows():
            targeted.setdefault(month, []).append(s)
        for d in days:
            for s in targeted.get(d.replace(day=1), []):
                need[d][s] = "held and targeted" if s in need[d] else "targeted"
    return need


def missing_needed_prices(bars: pl.DataFrame, needs: dict[date, dict[str, str]], quarantined: pl.DataFrame) -> pl.DataFrame:
    """(symbol, date) pairs needed but without a valid bar, with the quarantine reason or `not delivered`."""
    have = set(zip(bars["symbol"].to_list(), bars["date"].to_list())) if len(bars) else set()
    why = {(s, d): r for s, d, r in quarantined.select("symbol", "date", "reason").iter_rows()} if len(quarantined) else {}
    rows = [{"symbol": s, "date": d, "needed_as": as_, "reason": why.get((s, d), "not delivered by the source")}
            for d, need in sorted(needs.items()) for s, as_ in sorted(need.items()) if (s, d) not in have]
    return pl.DataFrame(rows, schema=MISSING_SCHEMA)


@asset_check(asset=raw_ohlcv_1d, partitions_def=DAILY, blocking=True,
             description="the coins held or targeted have valid bars on the day: more than "
                         "quality.max_missing_needed_fraction of them missing (the source failed) stops the day's orders; "
                         "fewer warn (the day core skips a coin without a fresh price, the delisting policy exits one whose bars stop)")
def prices_for_held_and_targeted(context: AssetCheckExecutionContext, raw_ohlcv_1d: pl.DataFrame, warehouse: Warehouse,
                                 pipeline_config: PipelineConfig) -> AssetCheckResult:
    keys = context.op_execution_context.partition_key_range
    first, last = date.fromisoformat(keys.start), date.fromisoformat(keys.end)
    db = warehouse.db()
    needs = needed_symbols(db, first, last)
    missing = missing_needed_prices(raw_ohlcv_1d, needs, read_quarantine(db, "raw_ohlcv_1d", first, last))
    limit = pipeline_config.settings().quality.max_missing_needed_fraction
    blocked = failed_days(needs, missing, limit)
    return AssetCheckResult(
        passed=missing.is_empty(),
        severity=AssetCheckSeverity.ERROR if blocked else AssetCheckSeverity.WARN,
        metadata={"needed": sum(len(n) for n in needs.values()), "missing": len(missing), "max_missing_share": limit,
                  "blocked_days": ", ".join(str(d) for d in blocked) or "none", "sample": markdown_table(missing)},
    )


def failed_days(needs: dict[date, dict[str, str]], missing: pl.DataFrame, limit: float) -> list[date]:
    """Days where more than `limit` of the needed coins lack a valid bar (the source failed for the day)."""
    counts = dict(missing.group_by("date").len().iter_rows()) if len(missing) else {}
    return [d for d, need in sorted(needs.items()) if need and counts.get(d, 0) / len(need) > limit]
