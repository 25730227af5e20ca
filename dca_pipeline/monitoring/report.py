"""A plain-text month summary read back from the warehouse: targets, orders, fills, value vs invested."""
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from dca_pipeline.storage import duck


@dataclass(frozen=True)
class MonthSummary:
    month: date
    targets: pl.DataFrame
    orders: int
    ordered_brl: float
    fills: int
    fees_brl: float
    performance: pl.DataFrame  # the month's last row
    usd_brl: float | None


def month_summary(db: Path, month: date, last_day: date) -> MonthSummary:
    targets = duck.query(db, "select symbol, tier, weight, cap from portfolio.target_weights where month = ? order by weight desc, symbol", [month])
    orders = duck.query(
        db, "select count(*) as n, coalesce(sum(amount_brl), 0)::double as s from execution.dca_orders where date between ? and ?", [month, last_day]
    )
    fills = duck.query(
        db, "select count(*) as n, coalesce(sum(fee_brl), 0)::double as f from execution.fills where date between ? and ?", [month, last_day]
    )
    perf = duck.query(db, "select * from monitoring.portfolio_performance where date = ?", [last_day])
    return MonthSummary(month, targets, int(orders["n"][0]), float(orders["s"][0]), int(fills["n"][0]), float(fills["f"][0]), perf, None)


def render_summary(s: MonthSummary) -> str:
    lines = [f"\n=== dca_pipeline summary for {s.month:%Y-%m} (bundled history, paper broker) ===", "Target weights:"]
    for sym, tier, w, cap in s.targets.iter_rows():
        lines.append(f"  {sym:<10} {tier or '-':<7} {w:7.2%}  (cap {cap:.2%})")
    lines.append(f"  total {float(s.targets['weight'].sum()):.2%} across {len(s.targets)} assets")
    lines.append(f"Orders placed: {s.orders}  (R$ {s.ordered_brl:,.2f})")
    lines.append(f"Fills: {s.fills}  (fees R$ {s.fees_brl:,.2f})")
    if len(s.performance):
        p = s.performance.row(0, named=True)
        lines.append(
            f"On {p['date']}: invested R$ {p['invested_brl']:,.2f} | value R$ {p['value_brl']:,.2f} "
            f"(cash R$ {p['cash_brl']:,.2f}) | P&L R$ {p['pnl_brl']:,.2f} | time-weighted return {p['twr']:.2%}"
        )
    return "\n".join(lines)


def render_coverage(coverage: pl.DataFrame) -> str:
    """Plain-text coverage lines (a frame from `backtest.verdict.coverage_table`): the snapshot band's members with
    and without daily bars, by count and by market cap, per month."""
    if coverage.is_empty():
        return "Coverage: no point-in-time snapshot for these months"
    lines = ["Coverage of the snapshot's rank band (members with / without daily bars):"]
    for r in coverage.iter_rows(named=True):
        lines.append(
            f"  {r['month']:%Y-%m}: {r['with_bars']}/{r['members']} coins with bars, "
            f"{r['mcap_covered']:.0%} of the band's market cap" + (f"; missing {r['missing']}" if r["missing"] else "")
        )
    return "\n".join(lines)
