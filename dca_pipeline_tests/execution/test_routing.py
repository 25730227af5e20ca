"""Smart order routing against two loopback exchanges (the real ccxt client, Mercado Bitcoin v4 protocol) with
different books and fees: the order goes to the venue with the better net price, the venue and the reason are
recorded on the order, and each venue reconciles against the ledger's fills on it."""
import json
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.execution import oms
from dca_pipeline.execution.guards import GuardContext, OrderIntent
from dca_pipeline.execution.live_broker import routed_broker
from dca_pipeline.execution.paper_book_broker import Book
from dca_pipeline.execution.routing import choose_venue, ledger_fills_by_venue, quote_venue, reconcile_router, venue_positions
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck

from .mb_loopback import MbServer

D = date(2021, 1, 5)
CID = "dca-20210105-A-BRL-buy"


@pytest.fixture
def venues(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for prefix in ("DCA_MB_", "DCA_FOX_"):
        monkeypatch.setenv(prefix + "API_KEY", "key")
        monkeypatch.setenv(prefix + "API_SECRET", "secret")
    # mb: ask 100.00 with a 0.7% taker fee (100.70 a coin after fees); fox: ask 100.10 with 0.3% (100.4003)
    mb = MbServer(fee_rate="0.007", asks=[("100.00", "1")], bids=[("99.00", "1")])
    fox = MbServer(fee_rate="0.003", asks=[("100.10", "1")], bids=[("99.50", "1")])
    yield mb, fox
    mb.shutdown()
    fox.shutdown()


def _router(mb: MbServer, fox: MbServer, fox_extra: str = ""):  # noqa: ANN202
    venues = (f'[{{name: mb, api_url: "{mb.url}", env_prefix: DCA_MB_, taker_fee: "0.007"}}, '
              f'{{name: fox, api_url: "{fox.url}", env_prefix: DCA_FOX_, taker_fee: "0.003"{fox_extra}}}]')
    settings = override(override(load_settings(), "execution.venues", venues), "execution.order_style", "market")
    router = routed_broker(settings)
    for v in router.venues.values():
        v.broker.exchange.enableRateLimit = False  # loopback: no rate limit, keeps the test fast
    return router


def test_the_order_goes_to_the_better_net_price_and_says_why(venues) -> None:  # noqa: ANN001
    mb, fox = venues
    db = warehouse_path()
    orders = pl.DataFrame({"date": [D], "client_order_id": [CID], "symbol": ["A/BRL"], "side": ["buy"], "amount_centavos": [3_000],
                           "ref_price_brl": [100.0]})
    oms.record_plan(db, D, 3_000, orders)
    states = oms.execute_day(db, D, _router(mb, fox), GuardContext(db, 10**9, 10**9))
    assert states["status"].to_list() == ["filled"]
    assert (mb.creates, fox.creates) == (0, 1)  # a higher ask but the lower fee: 100.4003 < 100.70 after fees
    sent = duck.query(db, "select detail from execution.events where client_order_id = ? and status = 'sent'", [CID])
    detail = json.loads(sent["detail"][0])
    assert detail["venue"] == "fox" and detail["route_reason"].startswith("best net price: fox 100.4")
    assert "vs mb 100.7" in detail["route_reason"]
    # the exchange got R$30 / 1.003 = 29.91 to spend: 29.91 / 100.10 = 0.29880119 A (floored to 1e-8)
    fill = duck.query(db, "select quantity, detail from execution.events where kind = 'fill' and client_order_id = ?", [CID])
    assert fill["quantity"][0] == Decimal("0.29880119") and json.loads(fill["detail"][0])["venue"] == "fox"

    # per venue: the ledger's fills on it against its own balances
    router = _router(mb, fox)
    ledger = venue_positions(ledger_fills_by_venue(db))
    assert ledger == {"fox": {"A": Decimal("0.29880119")}}
    assert {k: v for k, v in router.venues["fox"].balances().items() if k != "BRL"} == {"A": Decimal("0.29880119")}
    assert reconcile_router(db, router).is_empty()
    fox.balances["A"] += Decimal("0.5")  # something the pipeline did not do
    diffs = reconcile_router(db, router)
    assert diffs.select("venue", "item", "difference").rows() == [("fox", "position A", "0.50000000")]


def test_depth_and_minimums_decide_too(venues) -> None:  # noqa: ANN001
    mb, fox = venues
    order = OrderIntent(D, CID, "A/BRL", "buy", 3_000)
    fox.asks = [("100.10", "0.1")]  # R$10 of depth: fox cannot fill R$30 whole
    route = _router(mb, fox).route(order)
    assert route.venue == "mb" and "fox" in route.reason and "partial" in route.reason
    fox.asks = [("100.10", "1")]
    fox_dear = OrderIntent(D, CID + "2", "A/BRL", "buy", 3_000)
    assert _router(mb, fox, fox_extra="").route(fox_dear).venue == "fox"
    router = _router(mb, fox)
    router.venues["fox"].taker_fee = Decimal("0.009")  # 100.10 × 1.009 = 101.0009 > 100.70: now mb is cheaper
    assert router.route(fox_dear).venue == "mb"
    route = _router(mb, fox, fox_extra=', min_order_brl: "50"').route(order)  # fox's minimum is R$50
    assert route.venue == "mb" and "fox below the venue minimum R$50.00" in route.reason


def test_quotes_by_hand() -> None:
    book = Book(bids=((Decimal("99"), Decimal("1")),), asks=((Decimal("100"), Decimal("0.1")), (Decimal("110"), Decimal("1"))))
    q = quote_venue(OrderIntent(D, "o", "A/BRL", "buy", 2_000), "x", book, Decimal("0.01"))
    # level 1: 0.1 at 100 = R$10.00 + fee 10c; level 2: R$9.90 left → floor(9.90 / (110 × 1.01)) = 0.08910891
    # = R$9.80198 → 980c + fee 9.8 → 10c
    assert q.complete and q.quantity == Decimal("0.1") + Decimal("0.08910891")
    assert (q.gross_centavos, q.fee_centavos) == (1000 + 980, 10 + 10)
    sell = quote_venue(OrderIntent(D, "s", "A/BRL", "sell", 0, Decimal("0.5")), "x", book, Decimal("0.01"))
    assert sell.complete and sell.quantity == Decimal("0.5")
    assert sell.net_centavos == 4950 - 50  # 0.5 × 99 = R$49.50 less 1% fee
    none = choose_venue(OrderIntent(D, "o", "A/BRL", "buy", 100), [quote_venue(OrderIntent(D, "o", "A/BRL", "buy", 100), "x", book,
                                                                                Decimal("0.01"), min_cost_centavos=1_000)])
    assert none.venue is None and "below the venue minimum R$10.00" in none.reason


def test_the_reconciliation_asset_reconciles_per_venue_and_names_the_one_that_differs(venues, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """With routing configured the `reconciliation` asset and its blocking check compare each venue's balances and
    open orders with the ledger's fills on it: a fill mb has and the ledger lacks fails the check, naming mb."""
    import yaml
    from dagster import materialize

    from dca_pipeline.config import DEFAULT_CONFIG_PATH
    from dca_pipeline.execution.assets import ledger_matches_broker, reconciliation
    from dca_pipeline.execution.resources import Broker
    from dca_pipeline.resources import PipelineConfig
    from dca_pipeline.storage.resources import Warehouse

    mb, fox = venues
    monkeypatch.setenv("DCA_LIVE_TRADING", "1")
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["broker"] = "live"
    raw["execution"].update(order_style="market", venues=[
        {"name": "mb", "api_url": mb.url, "env_prefix": "DCA_MB_", "taker_fee": "0.007"},
        {"name": "fox", "api_url": fox.url, "env_prefix": "DCA_FOX_", "taker_fee": "0.003"}])
    cfg = tmp_path / "routed.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    db = warehouse_path()
    orders = pl.DataFrame({"date": [D], "client_order_id": [CID], "symbol": ["A/BRL"], "side": ["buy"], "amount_centavos": [3_000],
                           "ref_price_brl": [100.0]})
    oms.record_plan(db, D, 3_000, orders)
    oms.execute_day(db, D, _router(mb, fox), GuardContext(db, 10**9, 10**9))  # filled on fox (the first test)
    resources = {"warehouse": Warehouse(), "config": PipelineConfig(config_path=str(cfg)), "broker": Broker(mode="live")}

    def run():  # noqa: ANN202
        duck.close_all()
        result = materialize([reconciliation, ledger_matches_broker], partition_key=str(D), resources=resources, raise_on_error=False)
        return result.get_asset_check_evaluations()[0]

    clean = run()
    assert clean.passed and clean.metadata["differences"].value == 0
    # a market buy of R$20 straight on mb, outside the pipeline: R$20 / 1.007 = R$19.86 (centavos) at 100.00 → 0.1986 A
    rogue = _router(mb, fox).venues["mb"].broker.place(OrderIntent(D, "rogue-1", "A/BRL", "buy", 2_000))
    assert rogue.status == "filled" and mb.balances["A"] == Decimal("0.1986")
    check = run()
    assert not check.passed and check.metadata["differences"].value == 1
    assert check.metadata["venues_with_differences"].value == "mb"
    table = check.metadata["differences_table"].value
    assert "position A" in table and "0.1986" in table and "| mb" in table and "fox" not in table


def test_open_orders_per_venue_by_hand() -> None:
    from dca_pipeline.execution.routing import open_order_differences

    diffs = open_order_differences({"a", "b"}, {"mb": {"a", "x"}, "fox": {"y"}})
    assert diffs.select("venue", "item", "difference").rows() == [
        ("fox", "open order y", "open on the venue only"), ("mb", "open order x", "open on the venue only"),
        ("", "open order b", "open in the ledger only")]
    assert open_order_differences({"a"}, {"mb": {"a"}, "fox": set()}).is_empty()
