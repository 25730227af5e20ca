"""An in-memory position/cash ledger for the backtester, with the same money rules as the DuckDB ledger."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl


@dataclass
class MemoryLedger:
    """Cash and holdings in integer centavos and Decimal quantities; every movement is recorded."""

    cash_centavos: int = 0
    contributions_centavos: int = 0
    fees_centavos: int = 0
    quantity: dict[str, Decimal] = field(default_factory=dict)
    cost_centavos: dict[str, int] = field(default_factory=dict)

    def contribute(self, centavos: int) -> None:
        self.cash_centavos += centavos
        self.contributions_centavos += centavos

    def apply_fills(self, fills: pl.DataFrame) -> None:
        for f in fills.iter_rows(named=True):
            sym = f["symbol"]
            self.cash_centavos -= f["notional_centavos"] + f["fee_centavos"]
            self.fees_centavos += f["fee_centavos"]
            self.quantity[sym] = self.quantity.get(sym, Decimal(0)) + f["quantity"]
            self.cost_centavos[sym] = self.cost_centavos.get(sym, 0) + f["notional_centavos"]
        if self.cash_centavos < 0:
            raise AssertionError(f"cash went negative: {self.cash_centavos} centavos")

    def liquidate(self, symbol: str, proceeds_centavos: int, fee_centavos: int) -> None:
        """Sell a whole position (a delisted coin) at the given proceeds, less the fee."""
        self.cash_centavos += proceeds_centavos - fee_centavos
        self.fees_centavos += fee_centavos
        self.quantity.pop(symbol, None)
        self.cost_centavos.pop(symbol, None)

    def holdings(self) -> pl.DataFrame:
        rows = [(s, q, self.cost_centavos[s]) for s, q in sorted(self.quantity.items()) if q != 0]
        return pl.DataFrame(
            rows, schema={"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64}, orient="row"
        )

    def reconciles(self, realized_centavos: int = 0) -> bool:
        """contributions + realized P&L = cash + cost of positions + fees, to the centavo."""
        return self.contributions_centavos + realized_centavos == self.cash_centavos + sum(self.cost_centavos.values()) + self.fees_centavos
