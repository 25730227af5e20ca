"""Sub-cent BRL markets keep their precision through the v4 adapter (ccxt's legacy class rounds them to 1e-5)."""
from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from dca_pipeline.ingestion.mercado_bitcoin import MercadoBitcoinV4


@pytest.fixture
def adapter(server):  # noqa: ANN001, ANN201
    exchange = MercadoBitcoinV4.with_base_url(server.mb_url, {"timeout": 2000})
    exchange.load_markets()
    return exchange


def test_tick_and_step_come_from_v4_symbols(adapter) -> None:  # noqa: ANN001
    tick = Decimal("0.0000000001")  # by hand: the server lists PEPE with minmovement 1 and pricescale 10^10
    pepe = adapter.market("PEPE/BRL")
    assert pepe["id"] == "PEPE-BRL" and Decimal(str(pepe["precision"]["price"])) == tick
    assert pepe["precision"]["amount"] == 1e-8 and pepe["limits"]["price"]["min"] == 1e-10
    assert Decimal(str(adapter.market("BTC/BRL")["precision"]["price"])) == Decimal("0.00000001")  # pricescale 10^8
    assert adapter.market("OLD/BRL")["active"] is False


@pytest.mark.parametrize("price", ["0.0000573", "0.000004", "0.0000000123"])
def test_sub_cent_prices_round_trip_without_loss(adapter, price: str) -> None:  # noqa: ANN001
    assert Decimal(adapter.price_to_precision("PEPE/BRL", float(price))) == Decimal(price)


def test_prices_off_the_tick_are_rounded_to_it(adapter) -> None:  # noqa: ANN001
    assert adapter.price_to_precision("PEPE/BRL", 0.00005731234) == "0.0000573123"
    assert adapter.price_to_precision("BTC/BRL", 350000.123456789) == "350000.12345679"


def test_amounts_round_trip_at_the_8_decimal_step(adapter) -> None:  # noqa: ANN001
    assert Decimal(adapter.amount_to_precision("PEPE/BRL", 1234567.12345678)) == Decimal("1234567.12345678")
    assert Decimal(adapter.amount_to_precision("BTC/BRL", 0.00012345)) == Decimal("0.00012345")


def test_legacy_ccxt_class_loses_these_prices() -> None:
    """Why the adapter exists: ccxt.mercado gives every market a 1e-5 tick."""
    legacy = ccxt.mercado()
    legacy.set_markets([{
        "id": "BRLPEPE", "symbol": "PEPE/BRL", "base": "PEPE", "quote": "BRL", "baseId": "PEPE", "quoteId": "BRL",
        "type": "spot", "spot": True, "active": None,
        "precision": {"amount": 1e-8, "price": 1e-5}, "limits": {"price": {"min": 1e-5}},
    }])
    assert legacy.price_to_precision("PEPE/BRL", 0.0000573) == "0.00006"
    with pytest.raises(ccxt.InvalidOrder):
        legacy.price_to_precision("PEPE/BRL", 0.000004)
