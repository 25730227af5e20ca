"""Views derived from the event ledger: cash, positions at average cost (custo médio), realized/unrealized P&L,
order states and the ledger identity. Nothing here writes.

Average cost follows the Brazilian rule (Receita Federal, custo médio de aquisição): a buy's fees are part of
its acquisition cost; a sale's fees reduce its proceeds. So realized P&L = proceeds − sell fee − average cost
of the quantity sold, and every fee ends up either in a position's cost or in realized P&L."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from dca_pipeline.execution import events
from dca_pipeline.execution.events import TABLE
from dca_pipeline.storage import duck

POSITIONS_SCHEMA = {"symbol": pl.String, "quantity": pl.Decimal(38, 8), "cost_centavos": pl.Int64, "realized_centavos": pl.Int64}
FAR_FUTURE = date(9999, 12, 31)


def _has_events(db: Path) -> bool:
    return events.exists(db)


def events_frame(db: Path, through: date = FAR_FUTURE) -> pl.DataFrame:
    """Every event dated on or before `through`, in append order."""
    if not _has_events(db):
        return pl.DataFrame()
    return duck.query(db, f"select * from {TABLE} where date <= ? order by seq", [through])


def day_events(db: Path, day: date) -> pl.DataFrame:
    """The events dated `day`, in append order (what projecting or executing one day reads)."""
    if not _has_events(db):
        return pl.DataFrame()
    return duck.query(db, f"select * from {TABLE} where date = ? order by seq", [day])


def cash_centavos(db: Path, through: date = FAR_FUTURE) -> int:
    if not _has_events(db):
        return 0
    rows = duck.query(db, f"select coalesce(sum(cash_centavos), 0)::bigint as c from {TABLE} where date <= ?", [through])
    return int(rows["c"][0])


def first_event_day(db: Path) -> date | None:
    """The date of the ledger's earliest event; None when it has none."""
    if not _has_events(db):
        return None
    return duck.query(db, f"select min(date) as d from {TABLE}")["d"][0]


def last_contribution_day(db: Path, before: date | None = None) -> date | None:
    """The last day (before `before`, if given) whose contribution is in the ledger; None when there is none."""
    if not _has_events(db):
        return None
    rows = duck.query(db, f"select max(date) as d from {TABLE} where kind = 'contribution' and date < ?", [before or FAR_FUTURE])
    return rows["d"][0]


def positions(db: Path, through: date = FAR_FUTURE) -> pl.DataFrame:
    """Quantity, cost at average cost and realized P&L per symbol, replaying fills in append order (corporate
    actions too: execution/corporate_actions.py moves a holding's cost to its successor with no cash)."""
    if not _has_events(db):
        return pl.DataFrame(schema=POSITIONS_SCHEMA)
    fills = duck.query(
        db,
        f"""select f.symbol, f.side, f.quantity, f.amount_centavos, coalesce(fee.amount_centavos, 0)::bigint as fee
            from {TABLE} f left join {TABLE} fee on fee.event_id = 'fee:' || substr(f.event_id, 6)
            where f.kind in ('fill', 'corporate_action') and f.date <= ? order by f.seq""",
        [through],
    )
    return replay_average_cost(fills.rows())


def replay_average_cost(fills: list[tuple]) -> pl.DataFrame:
    """(symbol, side, quantity, notional centavos[, fee centavos]) in order → positions. A buy adds notional + fee
    to the cost; a sell removes cost at the average cost (half-even to the centavo; all of it when the position
    closes) and books proceeds − fee − removed cost as realized."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, int] = {}
    realized: dict[str, int] = {}
    for step in average_cost_steps(fills):
        qty[step.symbol], cost[step.symbol] = step.quantity, step.cost_centavos
        realized[step.symbol] = realized.get(step.symbol, 0) + step.realized_centavos
    rows = [(s, qty[s], cost[s], realized.get(s, 0)) for s in sorted(qty)]
    return pl.DataFrame(rows, schema=POSITIONS_SCHEMA, orient="row")


@dataclass(frozen=True)
class CostStep:
    """The position of `symbol` after one fill: quantity and cost held, cost a sell removed, its realized P&L."""

    symbol: str
    quantity: Decimal
    cost_centavos: int
    removed_centavos: int
    realized_centavos: int


def average_cost_steps(fills: Iterable[tuple]) -> Iterator[CostStep]:
    """The average-cost (custo médio) replay, one step per fill: a buy adds its notional to the cost; a sell
    removes cost × sold / held (half-even centavos; all of it when it closes the position). Callers choose what
    the notional holds (the tax report passes buys with fees and sells net of fees); an optional 5th element is the
    fill's fee, added to a buy's cost and taken from a sell's proceeds."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, int] = {}
    for symbol, side, q, notional, *rest in fills:
        fee = int(rest[0]) if rest else 0
        q = Decimal(q)
        held, basis = qty.get(symbol, Decimal(0)), cost.get(symbol, 0)
        if side == "buy":
            qty[symbol], cost[symbol] = held + q, basis + int(notional) + fee
            yield CostStep(symbol, qty[symbol], cost[symbol], 0, 0)
            continue
        if q > held:
            raise ValueError(f"sell of {q} {symbol} exceeds the {held} held")
        removed = basis if q == held else int((Decimal(basis) * q / held).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        qty[symbol], cost[symbol] = held - q, basis - removed
        yield CostStep(symbol, qty[symbol], cost[symbol], removed, int(notional) - fee - removed)


def unrealized_pnl(positions_frame: pl.DataFrame, prices: dict[str, float]) -> pl.DataFrame:
    """Market value (half-even centavos) minus cost per held symbol; a held symbol without price is an error."""
    rows = []
    for symbol, q, basis, _ in positions_frame.iter_rows():
        if q == 0:
            continue
        if symbol not in prices:
            raise ValueError(f"no price for held symbol {symbol}")
        value = int((Decimal(q) * Decimal(repr(prices[symbol])) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        rows.append((symbol, value, value - basis))
    return pl.DataFrame(rows, schema={"symbol": pl.String, "value_centavos": pl.Int64, "unrealized_centavos": pl.Int64}, orient="row")


@dataclass(frozen=True)
class Identity:
    contributions: int
    realized: int
    cash: int
    cost: int
    fees: int

    @property
    def holds(self) -> bool:
        """contributions + realized P&L = cash + cost of positions, to the centavo (and cash never negative).
        Fees are inside the terms: buy fees in cost, sell fees in realized P&L (`fees` is their total)."""
        return self.contributions + self.realized == self.cash + self.cost and self.cash >= 0


def identity(db: Path, through: date = FAR_FUTURE) -> Identity:
    pos = positions(db, through)
    sums = {"contribution": 0, "fee": 0}
    if _has_events(db):
        rows = duck.query(db, f"select kind, sum(amount_centavos)::bigint as a from {TABLE} where date <= ? and kind in ('contribution', 'fee') group by kind", [through])
        sums.update({k: int(v) for k, v in rows.iter_rows()})
    return Identity(sums["contribution"], int(pos["realized_centavos"].sum()), cash_centavos(db, through),
                    int(pos["cost_centavos"].sum()), sums["fee"])


def order_states(db: Path, day: date | None = None, last: date | None = None) -> pl.DataFrame:
    """One row per order (of `day`, or of days `day`..`last`): its planned amount, latest status, filled
    quantity/notional and fees."""
    schema = {"date": pl.Date, "client_order_id": pl.String, "symbol": pl.String, "side": pl.String, "amount_centavos": pl.Int64,
              "status": pl.String, "filled_quantity": pl.Decimal(38, 8), "filled_centavos": pl.Int64, "fee_centavos": pl.Int64}
    if not _has_events(db):
        return pl.DataFrame(schema=schema)
    where, params = ("where o.date between ? and ?", [day, last or day]) if day else ("", [])
    return duck.query(
        db,
        f"""with o as (select client_order_id, any_value(date) as date, any_value(symbol) as symbol, any_value(side) as side,
                  max(amount_centavos) filter (where status = 'planned') as amount_centavos, arg_max(status, seq) as status
                  from {TABLE} where kind = 'order' group by client_order_id),
                f as (select client_order_id, sum(quantity) filter (where kind = 'fill') as q,
                  sum(amount_centavos) filter (where kind = 'fill') as n, sum(amount_centavos) filter (where kind = 'fee') as fee
                  from {TABLE} where kind in ('fill', 'fee') group by client_order_id)
            select o.date, o.client_order_id, o.symbol, o.side, o.amount_centavos::bigint as amount_centavos, o.status,
                   coalesce(f.q, 0)::decimal(38, 8) as filled_quantity, coalesce(f.n, 0)::bigint as filled_centavos,
                   coalesce(f.fee, 0)::bigint as fee_centavos
            from o left join f using (client_order_id) {where} order by o.client_order_id""",
        params,
    )


def spent_centavos(db: Path, first: date, last: date, side: str = "buy") -> int:
    """Money committed to orders of `side` dated first..last that reached the exchange: sent or beyond
    (unfilled remainders of cancelled/expired orders excluded, their fills counted)."""
    if not _has_events(db):
        return 0
    rows = duck.query(
        db,
        f"""with st as (select client_order_id, arg_max(status, seq) as status,
                  max(amount_centavos) filter (where status = 'planned') as amount
                  from {TABLE} where kind = 'order' and side = ? and date between ? and ? group by client_order_id),
                spent as (select client_order_id, sum(abs(cash_centavos)) as s from {TABLE}
                  where kind in ('fill', 'fee') and date between ? and ? group by client_order_id)
            select coalesce(sum(case when st.status in ('sent', 'partially_filled') then greatest(st.amount, coalesce(spent.s, 0))
                                     else coalesce(spent.s, 0) end), 0)::bigint as c
            from st left join spent using (client_order_id)""",
        [side, first, last, first, last],
    )
    return int(rows["c"][0])
