"""Walk-forward DCA simulation over history, through the same functions production runs.

Monthly (data strictly before the month): tiers → factor scores → target weights. Daily: the budget
slice, underweight-first orders, paper fills at the next day's open with slippage and the taker fee,
valuation at the close, and the time-weighted return. Coins that stop trading are liquidated at their
last close (with the taker fee) once their data ends, and the proceeds return to cash.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from dca_pipeline.analytics.indicators import compute_features
from dca_pipeline.backtest.benchmarks import btc_only, equal_weight, index_dca, lump_sum
from dca_pipeline.ingestion import bundle
from dca_pipeline.backtest.ledger import MemoryLedger
from dca_pipeline.backtest.metrics import performance_metrics
from dca_pipeline.config import Settings
from dca_pipeline.execution.paper_fill import paper_fills
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.execution.risk import drawdown_breaker
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource
from dca_pipeline.intelligence.scores import compute_factors, score_assets
from dca_pipeline.intelligence.tiers import tiers_for_month
from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
from dca_pipeline.money import daily_contribution_centavos, fee_centavos, to_brl
from dca_pipeline.execution.performance import next_day_performance
from dca_pipeline.portfolio.targets import build_targets

HISTORY_DAYS = 400  # factors and indicators look back at most this far
STALE_DAYS = 7  # a held coin without a bar for this long, past its last bar in the data, is liquidated


@dataclass(frozen=True)
class BacktestResult:
    equity: pl.DataFrame  # date, invested_brl, value_brl, cash_brl, contribution_brl, daily_return, twr
    orders: pl.DataFrame
    fills: pl.DataFrame
    targets: pl.DataFrame
    liquidations: pl.DataFrame
    regimes: pl.DataFrame  # month, regime, p_bull, p_bear, p_sideways, p_crisis (empty unless asked for)
    benchmarks: pl.DataFrame  # date, invested_brl, btc_dca_brl, equal_weight_dca_brl, ibovespa_dca_brl, btc_lump_sum_brl
    metrics: dict[str, float]


def _months(start: date, end: date) -> list[date]:
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return out


def run_backtest(
    settings: Settings,
    start: date,
    end: date,
    source: MarketDataSource | None = None,
    progress: Callable[[str], None] | None = None,
    with_regime: bool = False,
) -> BacktestResult:
    """Simulate daily DCA from `start` to `end` (inclusive) with monthly targets; returns curves and metrics.

    `with_regime` also fits the market-regime HMM each month (on data before it) for the tearsheet's timeline.
    """
    source = source or ReplaySource()
    say = progress or (lambda _m: None)
    history_days = max(settings.portfolio.lookback_days + HISTORY_DAYS, REGIME_HISTORY_DAYS if with_regime else 0)
    raw = source.fetch_ohlcv_1d(start - timedelta(days=history_days), end + timedelta(days=1))
    bars, _quarantined = split_valid_ohlcv(raw)
    features = compute_features(bars)  # trailing indicators only: row D never sees data after D
    closes = {d: dict(zip(g["symbol"], g["close"])) for (d,), g in bars.partition_by("date", as_dict=True).items()}
    opens = {d: g.select("symbol", "open") for (d,), g in bars.partition_by("date", as_dict=True).items()}
    last_bar = dict(bars.group_by("symbol").agg(pl.col("date").max()).iter_rows())
    ledger = MemoryLedger()
    last_close: dict[str, tuple[float, date]] = {}
    for d in sorted(closes):
        if d < start:
            last_close.update({s: (c, d) for s, c in closes[d].items()})
    equity_rows, all_orders, all_fills, all_targets, liquidations, regimes = [], [], [], [], [], []
    breaker_days: list[date] = []
    twr_history: list[float] = []  # every valued day's TWR so far, for the drawdown circuit breaker
    prev_value, prev_twr, previous = 0, 0.0, None
    for month in _months(start, end):
        say(f"month {month:%Y-%m}")
        history = bars.filter(pl.col("date") < month)
        tiers = tiers_for_month(history, source.fetch_market_caps(month), month, settings)
        eve = month - timedelta(days=1)
        factors = compute_factors(history.filter(pl.col("date") > eve - timedelta(days=HISTORY_DAYS)), features, tiers, eve)
        scores = score_assets(factors, settings.scoring)
        targets = build_targets(month, scores, history.select("symbol", "date", "close"), settings, previous).weights
        previous = targets
        all_targets.append(targets)
        if with_regime:
            regimes.append(_regime(history, month, settings))
        day = max(month, start)
        month_end = min(end, date(month.year + (month.month == 12), month.month % 12 + 1, 1) - timedelta(days=1))
        while day <= month_end:
            today = closes.get(day, {})
            last_close.update({s: (c, day) for s, c in today.items()})
            contribution = daily_contribution_centavos(settings.budget_centavos, day)
            ledger.contribute(contribution)
            _liquidate_delisted(ledger, day, last_bar, last_close, settings, liquidations)
            prices = pl.DataFrame({"symbol": list(today), "close": list(today.values())}, schema={"symbol": pl.String, "close": pl.Float64})
            orders = plan_dca_orders(
                day, targets.filter(pl.col("weight") > 0), ledger.holdings(), prices, ledger.cash_centavos, settings.min_order_centavos
            )
            if drawdown_breaker(twr_history, settings.risk.max_drawdown_halt).tripped:
                orders = orders.clear()
                breaker_days.append(day)
            nxt = opens.get(day + timedelta(days=1), pl.DataFrame(schema={"symbol": pl.String, "open": pl.Float64}))
            fills, status = paper_fills(orders, nxt, settings.fees.taker, settings.slippage_bps)
            ledger.apply_fills(fills)
            all_orders.append(orders.with_columns(pl.col("client_order_id").replace_strict(status, default="new").alias("status")))
            all_fills.append(fills)
            value = ledger.cash_centavos + _holdings_value(ledger, last_close)
            perf = next_day_performance(prev_value, prev_twr, contribution, value, ledger.cash_centavos, ledger.contributions_centavos)
            prev_value, prev_twr = value, perf.twr
            twr_history.append(perf.twr)
            equity_rows.append(
                {
                    "date": day,
                    "invested_brl": to_brl(ledger.contributions_centavos),
                    "value_brl": to_brl(value),
                    "cash_brl": to_brl(ledger.cash_centavos),
                    "contribution_brl": to_brl(contribution),
                    "fees_brl": to_brl(ledger.fees_centavos),
                    "daily_return": perf.daily_return,
                    "twr": perf.twr,
                }
            )
            day += timedelta(days=1)
    equity = pl.DataFrame(equity_rows)
    metrics = performance_metrics(equity, float(settings.portfolio.risk_free_rate), float(to_brl(ledger.fees_centavos)))
    fills_all = pl.concat(all_fills) if all_fills else pl.DataFrame()
    metrics["total_slippage_brl"] = _slippage_brl(fills_all, settings.slippage_bps)
    invested = float(equity["invested_brl"][-1]) if len(equity) else 0.0
    metrics["cost_ratio"] = (metrics["total_fees_brl"] + metrics["total_slippage_brl"]) / invested if invested else 0.0
    targets_all = pl.concat(all_targets) if all_targets else pl.DataFrame(schema={"month": pl.Date, "symbol": pl.String, "weight": pl.Float64})
    fee = settings.fees.taker
    btc = btc_only(bars, start, end, settings.budget_centavos, fee)
    ew = equal_weight(bars, targets_all, start, end, settings.budget_centavos, fee)
    ibov = index_dca(bundle.ibovespa(), start, end, settings.budget_centavos)
    lump = lump_sum(bars, "BTC/BRL", start, end, settings.budget_centavos, fee)
    bench = (
        btc.rename({"value_brl": "btc_dca_brl"})
        .join(ew.select("date", pl.col("value_brl").alias("equal_weight_dca_brl")), on="date")
        .join(ibov.select("date", pl.col("value_brl").alias("ibovespa_dca_brl")), on="date")
        .join(lump.select("date", pl.col("value_brl").alias("btc_lump_sum_brl")), on="date")
    )
    return BacktestResult(
        regimes=pl.DataFrame(regimes),
        benchmarks=bench,
        equity=equity,
        orders=pl.concat(all_orders) if all_orders else pl.DataFrame(),
        fills=fills_all,
        targets=targets_all,
        liquidations=pl.DataFrame(liquidations),
        metrics={**metrics, "ledger_reconciles": float(_reconciles(ledger, liquidations)), "breaker_days": float(len(breaker_days))},
    )


def _regime(history: pl.DataFrame, month: date, settings: Settings) -> dict:
    """The month's regime from an HMM fit on the REGIME_HISTORY_DAYS before it (same code as the asset)."""
    from dca_pipeline.intelligence.regime import fit_regimes, market_features

    excluded = [f"{b}/BRL" for b in settings.excluded_bases]
    window = history.filter(
        (pl.col("date") >= month - timedelta(days=REGIME_HISTORY_DAYS)) & ~pl.col("symbol").is_in(excluded)
    )
    wide = window.pivot(on="symbol", index="date", values="close").sort("date")
    try:
        r = fit_regimes(market_features(wide), month - timedelta(days=1))
    except ValueError:
        return {"month": month, "regime": None}
    return {"month": month, "regime": r.label, **{f"p_{k}": v for k, v in r.probabilities.items()}}


def _slippage_brl(fills: pl.DataFrame, slippage_bps: float) -> float:
    """What buying above the next open cost: Σ notional × (1 − 1 / (1 + slippage))."""
    if fills.is_empty():
        return 0.0
    notional = float(sum(fills["notional_centavos"].to_list())) / 100
    return notional * (1 - 1 / (1 + slippage_bps / 10_000))


def _value(quantity: Decimal, price: float) -> int:
    return int((quantity * Decimal(repr(price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _holdings_value(ledger: MemoryLedger, last_close: dict[str, tuple[float, date]]) -> int:
    return sum(_value(q, last_close[s][0]) for s, q in ledger.quantity.items() if q)


def _liquidate_delisted(
    ledger: MemoryLedger, day: date, last_bar: dict[str, date], last_close: dict[str, tuple[float, date]],
    settings: Settings, log: list[dict],
) -> None:
    for symbol, quantity in list(ledger.quantity.items()):
        if last_bar.get(symbol, day) < day - timedelta(days=STALE_DAYS):
            price, price_day = last_close[symbol]
            proceeds = _value(quantity, price)
            fee = fee_centavos(proceeds, settings.fees.taker)
            cost = ledger.cost_centavos.get(symbol, 0)
            ledger.liquidate(symbol, proceeds, fee)
            log.append({"date": day, "symbol": symbol, "quantity": quantity, "price_brl": price, "price_date": price_day,
                        "proceeds_centavos": proceeds, "fee_centavos": fee, "cost_centavos": cost})


def _reconciles(ledger: MemoryLedger, liquidations: list[dict]) -> bool:
    realized = sum(x["proceeds_centavos"] - x["cost_centavos"] for x in liquidations)
    return ledger.reconciles(realized)
