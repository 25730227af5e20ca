"""The daily summary alert: what the day did, read back from the warehouse."""
from __future__ import annotations

from datetime import date

from dca_pipeline.governance.alerts import Alert, Severity
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck


def daily_summary_alert(day: str, failed_checks: list[str] | None = None, warehouse: Warehouse | None = None) -> Alert:
    """INFO (WARNING when a check failed) with orders, fills, value, P&L, TWR and the month's regime."""
    db, d = (warehouse or Warehouse()).db(), date.fromisoformat(day)
    orders = duck.query(db, "select count(*) as n, coalesce(sum(amount_brl), 0)::double as s from execution.dca_orders where date = ?", [d])
    fills = duck.query(db, "select count(*) as n, coalesce(sum(fee_brl), 0)::double as f from execution.fills where date = ?", [d])
    perf = duck.query(db, "select value_brl, invested_brl, pnl_brl, twr from monitoring.portfolio_performance where date = ?", [d])
    regime = (
        duck.query(db, "select regime from intelligence.market_regime where month = ?", [d.replace(day=1)])
        if duck.table_exists(db, "intelligence", "market_regime") else None
    )
    fields = {
        "orders": f"{orders['n'][0]} (R$ {orders['s'][0]:,.2f})",
        "fills": f"{fills['n'][0]} (fees R$ {fills['f'][0]:,.2f})",
        "regime": regime["regime"][0] if regime is not None and len(regime) else "unknown",
        "failed_checks": ", ".join(failed_checks or []) or "none",
    }
    if len(perf):
        p = perf.row(0, named=True)
        fields |= {"value": f"R$ {p['value_brl']:,.2f}", "invested": f"R$ {p['invested_brl']:,.2f}",
                   "pnl": f"R$ {p['pnl_brl']:,.2f}", "twr": f"{p['twr']:.2%}"}
    severity = Severity.WARNING if failed_checks else Severity.INFO
    return Alert(severity, f"daily summary {day}", "DCA day completed", key=f"daily_summary:{day}", fields=fields)
