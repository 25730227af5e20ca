"""Brazilian income-tax export of a year's crypto operations (`dca tax-report --year YYYY`), from the event ledger.

The shape Receita Federal asks exchanges' clients to keep: every operation (date, asset, quantity, value in BRL,
fees), the average acquisition cost (custo médio) *including fees* after each operation, and each month's total
sales against the R$35,000.00 monthly exemption for crypto-asset sales (isento when sales <= R$35,000.00).

Cost basis: a buy adds notional + fee to the asset's cost; a sale removes cost × sold / held (the ledger's
average-cost replay, `ledger_views.average_cost_steps`) and its gain is notional − fee − removed cost. Operations
from before the year feed the cost basis but are not listed. Dates are the ledger's (UTC trading day).

Corporate actions (`corporate_action` events, execution/corporate_actions.py) are cost transfers, never sales or
purchases: a migration's `out` leg removes the old coin's quantity with its whole cost (no gain, no sale value, not
in the month's sales) and its `in` leg adds the successor's quantity at exactly that removed cost, so MATIC's custo
médio (fees included) carries over to POL and a later POL sale's gain is measured against it. An airdrop's `in`
leg adds its coin at zero cost. They are listed as `transferencia_saida` / `transferencia_entrada` / `airdrop`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import ledger_views
from dca_pipeline.execution import events
from dca_pipeline.execution.events import TABLE
from dca_pipeline.money import to_brl
from dca_pipeline.storage import duck

EXEMPTION_CENTAVOS = 3_500_000  # R$35,000.00 of sales per month
FILLS_SCHEMA = {"date": pl.Date, "symbol": pl.String, "side": pl.String, "quantity": pl.Decimal(38, 8),
                "price_brl": pl.Decimal(38, 10), "notional_centavos": pl.Int64, "fee_centavos": pl.Int64,
                # corporate-action legs: 'out' / 'in' (null for a fill), the action's id and kind (execution/corporate_actions.py)
                "leg": pl.String, "action_id": pl.String, "action_kind": pl.String}
TRANSFER_OPS = {"out": "transferencia_saida", "in": "transferencia_entrada"}
UNIT_COST_PLACES = Decimal("0.0000000001")  # sub-cent coins need the digits
_BRL, _QTY, _UNIT = pl.Decimal(38, 2), pl.Decimal(38, 8), pl.Decimal(38, 10)
OPERATIONS_SCHEMA = {"data": pl.Date, "ativo": pl.String, "operacao": pl.String, "quantidade": _QTY,
                     "preco_unitario_brl": _UNIT, "valor_brl": _BRL, "taxas_brl": _BRL, "quantidade_em_carteira": _QTY,
                     "custo_total_brl": _BRL, "custo_medio_brl": _UNIT, "custo_baixado_brl": _BRL, "ganho_brl": _BRL}
POSITIONS_SCHEMA = {"ativo": pl.String, "quantidade": _QTY, "custo_total_brl": _BRL, "custo_medio_brl": _UNIT}


@dataclass(frozen=True)
class TaxReport:
    year: int
    operations: pl.DataFrame  # one row per fill of the year, with the position and custo médio after it
    monthly: pl.DataFrame     # twelve months: sales, gain, isento
    positions: pl.DataFrame   # holdings on 31 December at cost (for "Bens e Direitos")


def ledger_fills(db: Path) -> pl.DataFrame:
    """Every fill with its fee, and every corporate-action leg (notional = the cost the ledger moved, no fee), in
    ledger order (the fee event shares the fill's order id and sequence)."""
    if not events.exists(db):
        return pl.DataFrame(schema=FILLS_SCHEMA)
    return duck.query(
        db,
        f"""select f.date, f.symbol, f.side, f.quantity::decimal(38, 8) as quantity, f.price_brl::decimal(38, 10) as price_brl,
                   f.amount_centavos::bigint as notional_centavos, coalesce(fee.amount_centavos, 0)::bigint as fee_centavos,
                   case when f.kind = 'corporate_action' then json_extract_string(f.detail, '$.leg') end as leg,
                   case when f.kind = 'corporate_action' then json_extract_string(f.detail, '$.action_id') end as action_id,
                   case when f.kind = 'corporate_action' then json_extract_string(f.detail, '$.action_kind') end as action_kind
            from {TABLE} f left join {TABLE} fee
              on fee.kind = 'fee' and fee.event_id = 'fee:' || substr(f.event_id, length('fill:') + 1)
            where f.kind in ('fill', 'corporate_action') order by f.seq""",
    ).cast({k: v for k, v in FILLS_SCHEMA.items() if k in ("leg", "action_id", "action_kind")})


def _cost_rows(rows: list[dict], moved: dict[tuple, int]):  # noqa: ANN202 - generator of average_cost_steps rows
    """`average_cost_steps` input, one row per fill or leg, produced lazily: a transfer's `in` leg reads the cost its
    `out` leg removed (`moved`, filled by the consumer after each out step), so it is built only after that step."""
    for r in rows:
        leg = r.get("leg")
        if leg == "out":  # removes the held cost; "proceeds" = the ledger's cost, the gain is discarded (not a sale)
            yield r["symbol"], "sell", r["quantity"], r["notional_centavos"]
        elif leg == "in":  # airdrop: zero cost; migration and the like: exactly what the out leg removed
            cost = 0 if r.get("action_kind") == "airdrop" else moved.pop((r["action_id"], r["date"], _quote_of(r)), r["notional_centavos"])
            yield r["symbol"], "buy", r["quantity"], cost
        else:
            yield (r["symbol"], r["side"], r["quantity"],
                   r["notional_centavos"] + r["fee_centavos"] if r["side"] == "buy" else r["notional_centavos"] - r["fee_centavos"])


def _quote_of(r: dict) -> str:
    return r["symbol"].partition("/")[2]  # legs pair by action, date and quote currency (MATIC/BRL -> POL/BRL)


def build_tax_report(fills: pl.DataFrame, year: int) -> TaxReport:
    """The year's operations, monthly sales and year-end positions from `fills` (FILLS_SCHEMA, ledger order)."""
    rows = list(fills.iter_rows(named=True))
    moved: dict[tuple, int] = {}  # (action id, date, quote) -> cost an out leg removed, for its in leg
    ops, last = [], {}
    for r, step in zip(rows, ledger_views.average_cost_steps(_cost_rows(rows, moved))):
        leg = r.get("leg")
        if leg == "out":
            moved[(r["action_id"], r["date"], _quote_of(r))] = step.removed_centavos
        if r["date"].year > year:
            break
        last[step.symbol] = step
        if r["date"].year < year:
            continue
        unit = _unit_cost(step.cost_centavos, step.quantity)
        if leg in ("out", "in"):  # a cost transfer: no value, no fee, no gain, not a sale
            op = "airdrop" if r.get("action_kind") == "airdrop" else TRANSFER_OPS[leg]
            ops.append({
                "data": r["date"], "ativo": r["symbol"].split("/")[0], "operacao": op, "quantidade": r["quantity"],
                "preco_unitario_brl": None, "valor_brl": None, "taxas_brl": to_brl(0), "quantidade_em_carteira": step.quantity,
                "custo_total_brl": to_brl(step.cost_centavos), "custo_medio_brl": unit,
                "custo_baixado_brl": to_brl(step.removed_centavos) if leg == "out" else None, "ganho_brl": None,
                "_sale_centavos": 0, "_gain_centavos": 0,
            })
            continue
        ops.append({
            "data": r["date"], "ativo": r["symbol"].split("/")[0], "operacao": "compra" if r["side"] == "buy" else "venda",
            "quantidade": r["quantity"], "preco_unitario_brl": r["price_brl"], "valor_brl": to_brl(r["notional_centavos"]),
            "taxas_brl": to_brl(r["fee_centavos"]), "quantidade_em_carteira": step.quantity,
            "custo_total_brl": to_brl(step.cost_centavos), "custo_medio_brl": unit,
            "custo_baixado_brl": to_brl(step.removed_centavos) if r["side"] == "sell" else None,
            "ganho_brl": to_brl(step.realized_centavos) if r["side"] == "sell" else None,
            "_sale_centavos": r["notional_centavos"] if r["side"] == "sell" else 0,
            "_gain_centavos": step.realized_centavos,
        })
    monthly = _monthly(ops, year)
    positions = [(s.split("/")[0], st.quantity, to_brl(st.cost_centavos), _unit_cost(st.cost_centavos, st.quantity))
                 for s, st in sorted(last.items()) if st.quantity]
    op_rows = [tuple(o[c] for c in OPERATIONS_SCHEMA) for o in ops]
    return TaxReport(year, pl.DataFrame(op_rows, schema=OPERATIONS_SCHEMA, orient="row"), monthly,
                     pl.DataFrame(positions, schema=POSITIONS_SCHEMA, orient="row"))


def _unit_cost(cost_centavos: int, quantity: Decimal) -> Decimal | None:
    """Custo médio per unit in BRL (cost with fees / quantity held); None once the position is closed."""
    if not quantity:
        return None
    return (Decimal(cost_centavos) / 100 / Decimal(quantity)).quantize(UNIT_COST_PLACES, ROUND_HALF_EVEN)


def _monthly(ops: list[dict], year: int) -> pl.DataFrame:
    rows = []
    for month in range(1, 13):
        sells = [o for o in ops if o["data"].month == month and o["operacao"] == "venda"]
        sales = sum(o["_sale_centavos"] for o in sells)
        rows.append({"mes": f"{year}-{month:02d}", "vendas_brl": to_brl(sales), "limite_isencao_brl": to_brl(EXEMPTION_CENTAVOS),
                     "isento": sales <= EXEMPTION_CENTAVOS, "ganho_brl": to_brl(sum(o["_gain_centavos"] for o in sells)),
                     "operacoes_venda": len(sells)})
    return pl.DataFrame(rows, schema={"mes": pl.String, "vendas_brl": _BRL, "limite_isencao_brl": _BRL,
                                      "isento": pl.Boolean, "ganho_brl": _BRL, "operacoes_venda": pl.Int64})


def _text(value: object, decimal_comma: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "nao"
    if isinstance(value, date):
        return value.isoformat()
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text.replace(".", ",") if decimal_comma and isinstance(value, Decimal) else text


def write_tax_report(report: TaxReport, out_dir: Path, excel_br: bool = False) -> list[Path]:
    """`operacoes_YYYY.csv`, `vendas_mensais_YYYY.csv`, `posicoes_YYYY-12-31.csv` in `out_dir`. Default CSV: comma
    separator, decimal point; `excel_br`: semicolon separator and decimal comma (pt-BR spreadsheets)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in ((f"operacoes_{report.year}.csv", report.operations),
                        (f"vendas_mensais_{report.year}.csv", report.monthly),
                        (f"posicoes_{report.year}-12-31.csv", report.positions)):
        path = out_dir / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=";" if excel_br else ",")
            writer.writerow(frame.columns)
            for row in frame.iter_rows():
                writer.writerow([_text(v, excel_br) for v in row])
        paths.append(path)
    return paths
