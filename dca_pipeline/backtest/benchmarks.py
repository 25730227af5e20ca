"""What the investor would otherwise do with the same budget slices, counting uninvested cash like the strategy:
BTC-only DCA, equal-weight DCA of the strategy's universe, top-20 market-cap DCA, Ibovespa DCA, CDI, BTC lump sum.

A benchmark that cannot buy (no price that day, before a coin's listing, after the data's end) keeps the money as
cash, counted in its value at face value, and spends it on the next day that coin has a price.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.money import daily_contribution_centavos, to_brl
from dca_pipeline.backtest.window import months_between as _months

BENCH_SCHEMA = {"date": pl.Date, "invested_brl": pl.Decimal(38, 2), "value_brl": pl.Decimal(38, 2), "cash_brl": pl.Decimal(38, 2)}


def _brl(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _closes(bars: pl.DataFrame) -> dict[date, dict[str, float]]:
    return {d: dict(zip(g["symbol"], g["close"])) for (d,), g in bars.partition_by("date", as_dict=True).items()}


def dca_benchmark(
    bars: pl.DataFrame, weights_by_month: dict[date, dict[str, float]], start: date, end: date, budget_centavos: int, fee: Decimal
) -> pl.DataFrame:
    """Each day's budget slice split by that month's weights into per-coin cash, spent at the day's close (less the
    fee) whenever the coin has a bar that day; a month without weights keeps its slices as cash.

    Returns date, invested_brl, value_brl (holdings at each coin's last close + all unspent cash), cash_brl."""
    closes = _closes(bars)
    qty: dict[str, Decimal] = {}
    pending: dict[str, Decimal] = {}  # money earmarked for a coin that had no price yet
    idle = Decimal(0)  # slices of days without any weight
    last: dict[str, float] = {}
    invested, rows, day = 0, [], start
    while day <= end:
        today = closes.get(day, {})
        last.update(today)
        slice_c = daily_contribution_centavos(budget_centavos, day)
        invested += slice_c
        weights = {s: w for s, w in weights_by_month.get(day.replace(day=1), {}).items() if w > 0}
        slice_brl = Decimal(slice_c) / 100
        for sym, w in weights.items():
            pending[sym] = pending.get(sym, Decimal(0)) + slice_brl * Decimal(repr(w))
        idle += slice_brl * (1 - sum((Decimal(repr(w)) for w in weights.values()), Decimal(0)))
        for sym in list(pending):
            if sym in today and pending[sym] > 0 and today[sym] > 0:
                qty[sym] = qty.get(sym, Decimal(0)) + pending[sym] * (1 - fee) / Decimal(repr(today[sym]))
                pending[sym] = Decimal(0)
        cash = idle + sum(pending.values(), Decimal(0))
        value = sum((q * Decimal(repr(last[s])) for s, q in qty.items()), Decimal(0)) + cash
        rows.append({"date": day, "invested_brl": to_brl(invested), "value_brl": _brl(value), "cash_brl": _brl(cash)})
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=BENCH_SCHEMA)


def btc_only(bars: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    """Every slice into BTC at the day's close; a day without a BTC bar keeps its slice as cash until the next bar."""
    return dca_benchmark(bars, {m: {"BTC/BRL": 1.0} for m in _months(start, end)}, start, end, budget_centavos, fee)


def equal_weight(bars: pl.DataFrame, targets: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    """Equal weights over the coins the strategy held targets for in each month (same universe, no optimizer)."""
    by_month: dict[date, dict[str, float]] = {}
    for (month,), g in targets.partition_by("month", as_dict=True).items():
        symbols = g.filter(pl.col("weight") > 0)["symbol"].to_list()
        by_month[month] = {s: 1 / len(symbols) for s in symbols} if symbols else {}
    return dca_benchmark(bars, by_month, start, end, budget_centavos, fee)


TOP_N = 20


def top_n_weights(
    snapshots: pl.DataFrame, bars: pl.DataFrame, month: date, excluded_bases: tuple[str, ...] = (), n: int = TOP_N,
    weighting: str = "cap",
) -> dict[str, float]:
    """The month's top-`n` coins of the latest snapshot on or before the month's first day (point in time), minus
    excluded bases (stablecoins), among those with a daily bar on the month's eve; weights ∝ market cap ("cap")
    or equal ("equal"). Members without bars are left out (the coverage table reports them)."""
    snaps = snapshots.filter(pl.col("snapshot_date") <= month)
    if snaps.is_empty():
        return {}
    snap = snaps.filter(pl.col("snapshot_date") == snaps["snapshot_date"].max())
    order = "rank" if "rank" in snap.columns else "market_cap_usd"
    snap = snap.filter(~pl.col("base").is_in(list(excluded_bases))).sort(order, descending=order == "market_cap_usd").head(n)
    eve = month - timedelta(days=1)
    listed = set(bars.filter(pl.col("date") == eve)["symbol"].to_list())
    members = [(f"{b}/BRL", float(c)) for b, c in zip(snap["base"], snap["market_cap_usd"]) if f"{b}/BRL" in listed]
    if not members:
        return {}
    if weighting == "equal":
        return {s: 1 / len(members) for s, _ in members}
    total = sum(c for _, c in members)
    return {s: c / total for s, c in members}


def top_n_dca(
    bars: pl.DataFrame, snapshots: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal,
    excluded_bases: tuple[str, ...] = (), n: int = TOP_N, weighting: str = "cap",
) -> pl.DataFrame:
    """DCA into the month's point-in-time top-`n` by market cap (cap-weighted by default), re-selected monthly."""
    by_month = {m: top_n_weights(snapshots, bars, m, excluded_bases, n, weighting) for m in _months(start, end)}
    return dca_benchmark(bars, by_month, start, end, budget_centavos, fee)


def cdi_dca(cdi: pl.DataFrame | None, start: date, end: date, budget_centavos: int, fallback_annual: float) -> pl.DataFrame:
    """Each day's slice deposited at the day's end into an account earning the CDI: value_D = value_{D−1} × (1 + rf_D)
    + slice_D, with rf_D from `risk_free_daily` (the fixed rate past the series' end)."""
    from dca_pipeline.backtest.metrics import risk_free_daily

    rf = dict(zip(*risk_free_daily(start, end, cdi, fallback_annual).daily.get_columns()))
    value, invested, rows, day = Decimal(0), 0, [], start
    while day <= end:
        slice_c = daily_contribution_centavos(budget_centavos, day)
        invested += slice_c
        value = value * (1 + Decimal(repr(rf[day]))) + Decimal(slice_c) / 100
        rows.append({"date": day, "invested_brl": to_brl(invested), "value_brl": _brl(value), "cash_brl": _brl(value)})
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=BENCH_SCHEMA)


def index_dca(index: pl.DataFrame, start: date, end: date, budget_centavos: int) -> pl.DataFrame:
    """Daily slices into an index (e.g. Ibovespa) with no fee: cash waits for the next trading day's close
    (after the index's last close it stays cash)."""
    closes = dict(zip(index["date"].to_list(), index["close"].to_list()))
    units, pending, invested, last = Decimal(0), 0, 0, None
    rows, day = [], start
    while day <= end:
        slice_c = daily_contribution_centavos(budget_centavos, day)
        invested += slice_c
        pending += slice_c
        if day in closes:
            last = Decimal(repr(closes[day]))
            units += Decimal(pending) / 100 / last
            pending = 0
        value = units * last + Decimal(pending) / 100 if last is not None else Decimal(pending) / 100
        rows.append({"date": day, "invested_brl": to_brl(invested), "value_brl": _brl(value), "cash_brl": to_brl(pending)})
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=BENCH_SCHEMA)


def lump_sum(bars: pl.DataFrame, symbol: str, start: date, end: date, budget_centavos: int, fee: Decimal) -> pl.DataFrame:
    """The whole period's budget put into `symbol` at the first close on or after `start` (invested counts it all
    from day one; until that first close, and forever if there is none, it is cash)."""
    total = 0
    day = start
    while day <= end:
        total += daily_contribution_centavos(budget_centavos, day)
        day += timedelta(days=1)
    series = bars.filter((pl.col("symbol") == symbol) & pl.col("date").is_between(start, end)).sort("date")
    closes = dict(zip(series["date"].to_list(), series["close"].to_list()))
    cash, qty, last, rows, day = Decimal(total) / 100, Decimal(0), None, [], start
    while day <= end:
        if day in closes:
            last = Decimal(repr(closes[day]))
            if cash > 0:
                qty, cash = cash * (1 - fee) / last, Decimal(0)
        value = qty * last + cash if last is not None else cash
        rows.append({"date": day, "invested_brl": to_brl(total), "value_brl": _brl(value), "cash_brl": _brl(cash)})
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=BENCH_SCHEMA)


BENCHMARK_COLUMNS = ("btc_dca_brl", "top20_dca_brl", "equal_weight_dca_brl", "ibovespa_dca_brl", "cdi_brl", "btc_lump_sum_brl")


def all_benchmarks(
    bars: pl.DataFrame, targets: pl.DataFrame, start: date, end: date, budget_centavos: int, fee: Decimal, *,
    ibovespa: pl.DataFrame, snapshots: pl.DataFrame | None = None, cdi: pl.DataFrame | None = None,
    fallback_rate: float = 0.1075, excluded_bases: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Every benchmark on the same days: date, invested_brl and one value column per BENCHMARK_COLUMNS (top-20 is
    null when no snapshots are given). The single call the backtest makes after its loop."""
    parts = {
        "btc_dca_brl": btc_only(bars, start, end, budget_centavos, fee),
        "equal_weight_dca_brl": equal_weight(bars, targets, start, end, budget_centavos, fee),
        "ibovespa_dca_brl": index_dca(ibovespa, start, end, budget_centavos),
        "cdi_brl": cdi_dca(cdi, start, end, budget_centavos, fallback_rate),
        "btc_lump_sum_brl": lump_sum(bars, "BTC/BRL", start, end, budget_centavos, fee),
    }
    if snapshots is not None:
        parts["top20_dca_brl"] = top_n_dca(bars, snapshots, start, end, budget_centavos, fee, excluded_bases)
    out = parts["btc_dca_brl"].select("date", "invested_brl")
    for name in BENCHMARK_COLUMNS:
        if name in parts:
            out = out.join(parts[name].select("date", pl.col("value_brl").alias(name)), on="date", how="left")
        else:
            out = out.with_columns(pl.lit(None, pl.Decimal(38, 2)).alias(name))
    return out
