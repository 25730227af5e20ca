"""The broker interface, and the daily paper broker (next day's open + slippage + taker fee) behind it.

`place` sends an order (idempotent by client order id where the venue allows); `lookup` asks the venue what
became of an order already sent, so a retry after a crash or timeout never places it twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

import polars as pl

from dca_pipeline.execution.guards import OrderIntent
from dca_pipeline.execution.intraday_fill import ExecutionParams, execute_orders

FINAL = frozenset({"filled", "expired", "cancelled", "rejected"})


@dataclass(frozen=True)
class BrokerFill:
    seq: int
    quantity: Decimal
    price: Decimal
    notional_centavos: int
    fee_centavos: int
    liquidity: str  # maker | taker
    filled_at: datetime | None = None


@dataclass(frozen=True)
class BrokerReport:
    """What the venue says about an order: `open` (resting), or a final status; fills so far, in sequence."""

    client_order_id: str
    status: str  # open | filled | expired | cancelled | rejected
    fills: tuple[BrokerFill, ...] = ()
    exchange_order_id: str | None = None
    reason: str = ""
    venue: str = ""  # set by the router (routing.RoutedBroker): where the order went
    route_reason: str = ""


class Broker(Protocol):
    name: str

    def place(self, order: OrderIntent) -> BrokerReport: ...

    def lookup(self, order: OrderIntent) -> BrokerReport | None: ...


def centavos(value: Decimal) -> int:
    """BRL Decimal → integer centavos, half-even."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


class DailyPaperBroker:
    """Fills from bars with the execution model (`intraday_fill.execute_orders`, as the backtest): by default the
    next day's open × (1 ± slippage) with the taker fee; with `params.model` twap / maker_first over the next day's
    hours (`hourly`: stored hourly bars, else derived from `next_open`'s open, high, low, close).

    Buys spend the whole amount (fee taken from it); sells give the quantity and receive notional − fee.
    A stateless matching engine: it remembers nothing (`lookup` is None); `paper_account.AccountBroker` puts
    the exchange's persistent account in front of it."""

    name = "paper"

    def __init__(self, next_open: pl.DataFrame, taker_fee: Decimal, slippage_bps: float, params: ExecutionParams | None = None,
                 hourly: pl.DataFrame | None = None) -> None:
        self.next_open, self.taker_fee, self.slippage_bps, self.hourly = next_open, taker_fee, slippage_bps, hourly
        self.params = params or ExecutionParams("market_open", taker_fee, slippage_bps=slippage_bps)

    def place(self, order: OrderIntent) -> BrokerReport:
        return self.place_many([order])[order.client_order_id]

    def place_many(self, orders: list[OrderIntent]) -> dict[str, BrokerReport]:
        """What `place` reports for each order, from one `paper_fills` call (the engine is stateless, so placing a
        day's orders together or one by one gives the same reports)."""
        frame = pl.DataFrame(
            [{"date": o.day, "symbol": o.symbol, "client_order_id": o.client_order_id, "side": o.side,
              "amount_centavos": o.amount_centavos, "quantity": o.quantity, "ref_price_brl": o.ref_price} for o in orders],
            schema={"date": pl.Date, "symbol": pl.String, "client_order_id": pl.String, "side": pl.String,
                    "amount_centavos": pl.Int64, "quantity": pl.Decimal(38, 8), "ref_price_brl": pl.Float64},
        )
        fills, status = execute_orders(frame, self.next_open, self.params, self.hourly)
        by_id = {f["client_order_id"]: f for f in fills.iter_rows(named=True)}
        out = {}
        for o in orders:
            f = by_id.get(o.client_order_id)
            if status.get(o.client_order_id) != "filled" or f is None:
                out[o.client_order_id] = BrokerReport(o.client_order_id, "expired", reason=f"no next-day bar for {o.symbol}")
                continue
            fill = BrokerFill(1, f["quantity"], Decimal(repr(f["price_brl"])), f["notional_centavos"], f["fee_centavos"], f["liquidity"], f["filled_at"])
            out[o.client_order_id] = BrokerReport(o.client_order_id, "filled", (fill,))
        return out

    def lookup(self, order: OrderIntent) -> BrokerReport | None:  # noqa: ARG002
        return None
