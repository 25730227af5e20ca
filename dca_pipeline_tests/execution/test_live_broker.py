"""The live broker with the REAL ccxt client (MercadoBitcoinTrading) against a loopback MB v4 server."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from dca_pipeline.execution import ledger_views, oms
from dca_pipeline.execution.guards import GuardContext, OrderIntent
from dca_pipeline.execution.live_broker import LiveCcxtBroker, exchange_from_env, live_trading_enabled
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.paths import warehouse_path

from .conftest import assert_identity
from .mb_loopback import MbServer

D = date(2021, 1, 5)
PRICES = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [100.0, 100.0]})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> MbServer:
    monkeypatch.setenv("DCA_MB_API_KEY", "key")
    monkeypatch.setenv("DCA_MB_API_SECRET", "secret")
    srv = MbServer()
    yield srv
    srv.shutdown()


def _broker(server: MbServer, **kw) -> LiveCcxtBroker:  # noqa: ANN003
    exchange = exchange_from_env(server.url, timeout_ms=500)
    exchange.enableRateLimit = False  # the loopback server has no rate limit; keeps the test fast
    return LiveCcxtBroker(exchange, Decimal("0.003"), Decimal("0.007"), **kw)


def _plan(db) -> None:  # noqa: ANN001
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    orders = plan_dca_orders(D, targets, pl.DataFrame(schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8)}), PRICES, 5_000, 1_000)
    oms.record_plan(db, D, 5_000, orders)


def test_timed_out_create_is_found_by_client_id_not_placed_again(server: MbServer) -> None:
    server.hang_first_create = True
    broker = _broker(server)
    report = broker.place(OrderIntent(D, "dca-20210105-A-BRL-buy", "A/BRL", "buy", 3_000))
    assert server.creates == 1  # the retry found it by externalId
    assert report.status == "filled" and report.exchange_order_id == "o1"
    f = report.fills[0]
    # cost = 30.00 / 1.007 = 29.79 (down); qty 0.2979 at R$100 -> notional R$29.79, fee 0.7% = 20.853c -> 21c
    assert f.quantity == Decimal("0.2979") and f.notional_centavos == 2979 and f.fee_centavos == 21
    assert server.orders[0]["externalId"] == "dca-20210105-A-BRL-buy"


def test_oms_resumes_a_sent_order_by_lookup(server: MbServer) -> None:
    db = warehouse_path()
    _plan(db)
    server.hang_first_create = True
    states = oms.execute_day(db, D, _broker(server), GuardContext(db, 10**9, 10**9))
    assert server.creates == 2 and states["status"].to_list() == ["filled", "filled"]
    oms.execute_day(db, D, _broker(server), GuardContext(db, 10**9, 10**9))  # rerun: nothing new at the exchange
    assert server.creates == 2
    assert_identity(db)


def test_orders_wait_for_approval_and_rejected_ones_are_never_sent(server: MbServer) -> None:
    db = warehouse_path()
    _plan(db)
    ctx = GuardContext(db, 10**9, 10**9)
    states = oms.execute_day(db, D, _broker(server), ctx, approval="manual")
    assert set(states["status"]) == {"pending_approval"} and server.creates == 0
    oms.execute_day(db, D, _broker(server), ctx, approval="manual")
    assert server.creates == 0
    a, b = oms.pending_ids(db, D)
    oms.approve(db, [a])
    oms.reject(db, [b])
    states = oms.execute_day(db, D, _broker(server), ctx, approval="manual")
    assert server.creates == 1 and [o["externalId"] for o in server.orders] == [a]
    assert dict(zip(states["client_order_id"], states["status"])) == {a: "filled", b: "rejected"}
    # only the approved R$25 order spent: cost 25 / 1.007 = 24.82 (down), fee 0.7% of 24.82 = 17.374c -> 17c
    assert ledger_views.cash_centavos(db) == 5_000 - 2_482 - 17


def test_limit_then_market_after_the_deadline(server: MbServer) -> None:
    db = warehouse_path()
    _plan(db)
    clock = {"now": datetime.now(timezone.utc)}
    book = lambda _s: (Decimal("99.5"), Decimal("100.5"))  # noqa: E731 - best bid, best ask
    broker = _broker(server, style="limit_then_market", limit_minutes=60, now=lambda: clock["now"], quote=book, inside_ticks=2)
    ctx = GuardContext(db, 10**9, 10**9)
    states = oms.execute_day(db, D, broker, ctx)
    assert set(states["status"]) == {"sent"} and [o["type"] for o in server.orders] == ["limit", "limit"]
    assert server.orders[0]["limitPrice"] == 99.50002  # the bid + 2 ticks of 1e-5, inside the spread
    clock["now"] += timedelta(minutes=59)
    assert set(oms.execute_day(db, D, broker, ctx)["status"]) == {"sent"}  # before the deadline: still resting
    clock["now"] += timedelta(minutes=2)
    states = oms.execute_day(db, D, broker, ctx)  # deadline passed: limits cancelled, the rest bought at market
    assert set(states["status"]) == {"filled"}
    assert [o["type"] for o in server.orders] == ["limit", "limit", "market", "market"]
    assert [o["status"] for o in server.orders[:2]] == ["cancelled", "cancelled"]
    assert all(o["externalId"].endswith("-mkt") for o in server.orders[2:])


def test_live_needs_config_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not live_trading_enabled("paper")
    with pytest.raises(PermissionError, match="DCA_LIVE_TRADING"):
        live_trading_enabled("live")
    monkeypatch.setenv("DCA_LIVE_TRADING", "1")
    assert live_trading_enabled("live")
    with pytest.raises(PermissionError, match="DCA_MB_API_KEY"):
        exchange_from_env("http://127.0.0.1:9")


def test_key_rotation_uses_the_pair_the_exchange_authorizes(server: MbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mid-rotation: the old pair is revoked, the new one (…_NEXT) works; the broker picks it without a config change."""
    monkeypatch.setenv("DCA_MB_API_KEY", "revoked-key")
    monkeypatch.setenv("DCA_MB_API_SECRET", "revoked-secret")
    monkeypatch.setenv("DCA_MB_API_KEY_NEXT", "key")
    monkeypatch.setenv("DCA_MB_API_SECRET_NEXT", "secret")
    exchange = exchange_from_env(server.url, timeout_ms=500)
    assert exchange.apiKey == "key" and exchange.account_id()
    monkeypatch.setenv("DCA_MB_API_KEY_NEXT", "also-wrong")
    with pytest.raises(Exception, match="every API key pair failed"):
        exchange_from_env(server.url, timeout_ms=500)
