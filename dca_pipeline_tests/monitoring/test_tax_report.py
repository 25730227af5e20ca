"""`dca tax-report`: operations, custo médio with fees and the monthly R$35,000 exemption, on hand-computed numbers."""
import csv
from datetime import date
from decimal import Decimal

from dca_pipeline.cli import main
from dca_pipeline.execution import events as ev
from dca_pipeline.monitoring.tax_report import build_tax_report, ledger_fills
from dca_pipeline.paths import dca_home, warehouse_path

# (day, id, symbol, side, quantity, price, notional centavos, fee centavos)
TRADES = [
    (date(2020, 12, 15), "b0", "BTC/BRL", "buy", "0.5", "200", 10_000, 50),          # before the year: basis only
    (date(2021, 1, 10), "b1", "BTC/BRL", "buy", "0.25", "240", 6_000, 30),
    (date(2021, 1, 20), "b2", "ETH/BRL", "buy", "2", "20000", 4_000_000, 20_000),
    (date(2021, 2, 5), "s1", "BTC/BRL", "sell", "0.3", "300", 9_000, 45),
    (date(2021, 3, 3), "s2", "ETH/BRL", "sell", "1", "36000", 3_600_000, 18_000),    # R$36,000 of sales: taxable month
    (date(2021, 4, 7), "s3", "ETH/BRL", "sell", "1", "35000", 3_500_000, 17_500),    # exactly R$35,000: still exempt
    (date(2022, 1, 3), "b3", "BTC/BRL", "buy", "0.1", "300", 3_000, 15),             # after the year: ignored
]


def _ledger() -> None:
    db = warehouse_path()
    ev.append_events(db, [ev.contribution_event(date(2020, 12, 1), 5_000_000)])
    for day, cid, symbol, side, q, p, notional, fee in TRADES:
        ev.append_events(db, [ev.order_event(day, cid, symbol, side, "planned", notional), ev.order_event(day, cid, symbol, side, "sent")])
        ev.append_events(db, ev.fill_events(day, cid, symbol, side, 1, Decimal(q), Decimal(p), notional, fee))


def test_operations_average_cost_with_fees_and_monthly_exemption_by_hand() -> None:
    _ledger()
    report = build_tax_report(ledger_fills(warehouse_path()), 2021)
    ops = report.operations
    assert ops["data"].to_list() == [date(2021, 1, 10), date(2021, 1, 20), date(2021, 2, 5), date(2021, 3, 3), date(2021, 4, 7)]
    assert ops["operacao"].to_list() == ["compra", "compra", "venda", "venda", "venda"]
    assert ops["taxas_brl"].to_list() == [Decimal("0.30"), Decimal("200.00"), Decimal("0.45"), Decimal("180.00"), Decimal("175.00")]
    # BTC: 100.00 + 0.50 (2020) + 60.00 + 0.30 = R$160.80 for 0.75 -> R$214.40 a coin
    btc_buy = ops.row(0, named=True)
    assert btc_buy["quantidade_em_carteira"] == Decimal("0.75") and btc_buy["custo_total_brl"] == Decimal("160.80")
    assert btc_buy["custo_medio_brl"] == Decimal("214.4")
    # ETH: 40,000.00 + 200.00 for 2 -> R$20,100.00 a coin
    assert ops.row(1, named=True)["custo_medio_brl"] == Decimal("20100")
    # selling 0.3 of 0.75 BTC removes 160.80 x 0.4 = 64.32; gain 90.00 - 0.45 - 64.32 = 25.23; custo médio unchanged
    s1 = ops.row(2, named=True)
    assert (s1["custo_baixado_brl"], s1["ganho_brl"], s1["custo_total_brl"]) == (Decimal("64.32"), Decimal("25.23"), Decimal("96.48"))
    assert s1["custo_medio_brl"] == Decimal("214.4")
    # ETH sales: 36,000.00 - 180.00 - 20,100.00 = 15,720.00; then 35,000.00 - 175.00 - 20,100.00 = 14,725.00 (position closed)
    s2, s3 = ops.row(3, named=True), ops.row(4, named=True)
    assert (s2["ganho_brl"], s3["ganho_brl"]) == (Decimal("15720.00"), Decimal("14725.00"))
    assert s3["quantidade_em_carteira"] == 0 and s3["custo_medio_brl"] is None
    monthly = {r["mes"]: r for r in report.monthly.iter_rows(named=True)}
    assert len(monthly) == 12
    assert (monthly["2021-01"]["vendas_brl"], monthly["2021-01"]["isento"]) == (Decimal("0.00"), True)
    assert (monthly["2021-02"]["vendas_brl"], monthly["2021-02"]["isento"], monthly["2021-02"]["ganho_brl"]) == (Decimal("90.00"), True, Decimal("25.23"))
    assert (monthly["2021-03"]["vendas_brl"], monthly["2021-03"]["isento"]) == (Decimal("36000.00"), False)
    assert (monthly["2021-04"]["vendas_brl"], monthly["2021-04"]["isento"]) == (Decimal("35000.00"), True)
    assert report.positions.rows() == [("BTC", Decimal("0.45"), Decimal("96.48"), Decimal("214.4"))]


def test_cli_writes_the_three_csv_files(capsys) -> None:  # noqa: ANN001
    _ledger()
    assert main(["tax-report", "--year", "2021"]) == 0
    out = dca_home() / "reports" / "tax_2021"
    assert capsys.readouterr().out.split() == [str(out / f) for f in ("operacoes_2021.csv", "vendas_mensais_2021.csv", "posicoes_2021-12-31.csv")]
    rows = list(csv.DictReader((out / "operacoes_2021.csv").open()))
    assert [r["ativo"] for r in rows] == ["BTC", "ETH", "BTC", "ETH", "ETH"]
    assert rows[2]["valor_brl"] == "90.00" and rows[2]["ganho_brl"] == "25.23" and rows[0]["ganho_brl"] == ""
    months = list(csv.DictReader((out / "vendas_mensais_2021.csv").open()))
    assert [(m["mes"], m["isento"]) for m in months[1:4]] == [("2021-02", "sim"), ("2021-03", "nao"), ("2021-04", "sim")]
    assert main(["tax-report", "--year", "2021", "--out", str(out / "br"), "--excel-br"]) == 0
    header, first = (out / "br" / "operacoes_2021.csv").read_text().splitlines()[:2]
    assert header.startswith("data;ativo;operacao;quantidade") and ";60,00;0,30;" in first


def test_a_migration_carries_matic_cost_with_fees_to_pol_and_is_no_sale() -> None:
    """MATIC bought twice, migrated to POL on 2024-09-04 by the production path (execution/corporate_actions
    .apply_day on the event ledger), more POL bought, then POL sold: the gain uses MATIC's custo médio with fees."""
    import polars as pl

    from dca_pipeline.execution import corporate_actions as ca
    from dca_pipeline.execution.ledger_protocol import EventLedger

    db = warehouse_path()
    ev.append_events(db, [ev.contribution_event(date(2024, 8, 1), 1_000_000)])
    trades = [
        (date(2024, 8, 10), "m1", "MATIC/BRL", "buy", "1000", "2.00", 200_000, 1_400),  # R$2,000.00 + R$14.00
        (date(2024, 8, 20), "m2", "MATIC/BRL", "buy", "500", "2.40", 120_000, 840),     # R$1,200.00 + R$8.40
    ]
    later = [
        (date(2024, 9, 10), "p1", "POL/BRL", "buy", "500", "2.00", 100_000, 700),        # R$1,000.00 + R$7.00
        (date(2024, 10, 15), "p2", "POL/BRL", "sell", "1000", "2.60", 260_000, 1_820),   # R$2,600.00 − R$18.20
    ]

    def book(rows) -> None:  # noqa: ANN001
        for day, cid, symbol, side, q, p, notional, fee in rows:
            ev.append_events(db, [ev.order_event(day, cid, symbol, side, "planned", notional), ev.order_event(day, cid, symbol, side, "sent")])
            ev.append_events(db, ev.fill_events(day, cid, symbol, side, 1, Decimal(q), Decimal(p), notional, fee))

    book(trades)
    ledger = EventLedger(db)
    _, _, legs = ca.apply_day(ledger, date(2024, 9, 4), ledger.holdings(), pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64}))
    assert legs.select("symbol", "leg").rows() == [("MATIC/BRL", "out"), ("POL/BRL", "in")]
    book(later)

    report = build_tax_report(ledger_fills(db), 2024)
    ops = report.operations
    assert ops.select("data", "ativo", "operacao").rows() == [
        (date(2024, 8, 10), "MATIC", "compra"), (date(2024, 8, 20), "MATIC", "compra"),
        (date(2024, 9, 4), "MATIC", "transferencia_saida"), (date(2024, 9, 4), "POL", "transferencia_entrada"),
        (date(2024, 9, 10), "POL", "compra"), (date(2024, 10, 15), "POL", "venda")]
    # MATIC cost: 2,000.00 + 14.00 + 1,200.00 + 8.40 = R$3,222.40 for 1,500 → R$2.1482666667 a coin
    out, into = ops.row(2, named=True), ops.row(3, named=True)
    assert (out["quantidade"], out["custo_baixado_brl"], out["quantidade_em_carteira"], out["custo_total_brl"]) == (
        Decimal(1500), Decimal("3222.40"), Decimal(0), Decimal("0.00"))
    assert out["ganho_brl"] is None and out["valor_brl"] is None  # not a sale
    assert (into["quantidade_em_carteira"], into["custo_total_brl"], into["custo_medio_brl"]) == (
        Decimal(1500), Decimal("3222.40"), Decimal("2.1482666667"))
    # + 500 POL for 1,000.00 + 7.00: R$4,229.40 for 2,000 → R$2.1147 a coin
    assert ops.row(4, named=True)["custo_total_brl"] == Decimal("4229.40") and ops.row(4, named=True)["custo_medio_brl"] == Decimal("2.1147")
    # selling 1,000 of 2,000 POL removes 4,229.40 / 2 = 2,114.70; gain 2,600.00 − 18.20 − 2,114.70 = 467.10
    sale = ops.row(5, named=True)
    assert (sale["custo_baixado_brl"], sale["ganho_brl"]) == (Decimal("2114.70"), Decimal("467.10"))
    monthly = {r["mes"]: r for r in report.monthly.iter_rows(named=True)}
    assert (monthly["2024-09"]["vendas_brl"], monthly["2024-09"]["operacoes_venda"]) == (Decimal("0.00"), 0)  # the migration sells nothing
    assert (monthly["2024-10"]["vendas_brl"], monthly["2024-10"]["ganho_brl"]) == (Decimal("2600.00"), Decimal("467.10"))
    assert report.positions.rows() == [("POL", Decimal(1000), Decimal("2114.70"), Decimal("2.1147"))]
