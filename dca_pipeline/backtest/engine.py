"""Walk-forward DCA simulation over history: the production day (execution/day.py) on an in-memory book.

Monthly (data strictly before the month): tiers → factor scores (features of the month's eve from the same
400-day window as `features_daily`) → target weights, with the month's regime when regime scaling is on.
Daily: `simulate_day` — the same `plan_day` as the `dca_orders` asset (delisting exits, stale-price skips,
buys, rebalance sells, breaker, pre-send guards and spend caps), the same paper fill function as the paper
broker, and the ledger protocol's `MemoryLedger` — then valuation at the last close and the time-weighted
return. The backtester itself holds no order, fill, guard or ledger logic.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from dca_pipeline.analytics.indicators import FEATURE_WINDOW_DAYS, compute_features
from dca_pipeline.backtest.benchmarks import all_benchmarks
from dca_pipeline.ingestion import bundle
from dca_pipeline.backtest.metrics import performance_metrics
from dca_pipeline.backtest.window import data_range_of, months_between as _months, require_within
from dca_pipeline.config import Settings
from dca_pipeline.execution.day import DECISION_SCHEMA, EXIT_SCHEMA, Controls, MarketTape, book_value_centavos, simulate_day
from dca_pipeline.execution.ledger_protocol import MemoryLedger
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource
from dca_pipeline.intelligence.scores import compute_factors, score_assets
from dca_pipeline.intelligence.tiers import tiers_for_month
from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
from dca_pipeline.intelligence.lstm_momentum import with_lstm_momentum
from dca_pipeline.money import to_brl
from dca_pipeline.execution.positions import next_day_performance
from dca_pipeline.portfolio.targets import build_targets

HISTORY_DAYS = 400  # factors look back at most this far (the intelligence assets' FACTOR_HISTORY_DAYS)


@dataclass(frozen=True)
class BacktestResult:
    equity: pl.DataFrame  # date, invested_brl, value_brl, cash_brl, contribution_brl, daily_return, twr
    orders: pl.DataFrame
    fills: pl.DataFrame
    targets: pl.DataFrame
    liquidations: pl.DataFrame  # the delisting exits (execution/day.py EXIT_SCHEMA)
    regimes: pl.DataFrame  # month, regime, p_bull, p_bear, p_sideways, p_crisis (empty unless asked for)
    benchmarks: pl.DataFrame  # date, invested_brl and benchmarks.BENCHMARK_COLUMNS (BTC, top-20, equal weight, Ibovespa, CDI, lump sum)
    metrics: dict[str, float]
    decisions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DECISION_SCHEMA))  # every day's decisions

    @property
    def exits(self) -> pl.DataFrame:
        """Delisting exits: date, symbol, quantity, price used, price date, policy, proceeds (= `liquidations`)."""
        return self.liquidations


def month_targets(month: date, bars: pl.DataFrame, caps: pl.DataFrame, settings: Settings, previous: pl.DataFrame | None,
                  regime: str | None, lstm: pl.DataFrame | None = None) -> pl.DataFrame:
    """The month's targets from bars before it: the monthly assets' calls on the same windows (`lstm`: the month's
    precomputed LSTM momentum scores, symbol and lstm_mom; trained here when the flag is on and none is given)."""
    history = bars.filter(pl.col("date") < month)
    eve = month - timedelta(days=1)
    tiers = tiers_for_month(history, caps, month, settings)
    features = compute_features(history.filter(pl.col("date") > eve - timedelta(days=FEATURE_WINDOW_DAYS))).filter(pl.col("date") == eve)
    factors = compute_factors(history.filter(pl.col("date") > eve - timedelta(days=HISTORY_DAYS)), features, tiers, eve)
    factors = with_lstm_momentum(factors, history, eve, tiers["symbol"].to_list(), settings.lstm_momentum, lstm)
    scores = score_assets(factors, settings.scoring, settings.lstm_momentum.momentum_weight())
    closes = history.filter(pl.col("date") >= month - timedelta(days=settings.portfolio.lookback_days)).select("symbol", "date", "close")
    return build_targets(month, scores, closes, settings, previous, regime).weights


def run_backtest(
    settings: Settings,
    start: date,
    end: date,
    source: MarketDataSource | None = None,
    progress: Callable[[str], None] | None = None,
    with_regime: bool = False,
    lstm_scores: pl.DataFrame | None = None,  # month, symbol, lstm_mom (lstm_momentum.walk_forward_scores)
) -> BacktestResult:
    """Simulate daily DCA from `start` to `end` (inclusive) with monthly targets; returns curves and metrics.

    `with_regime` also fits the market-regime HMM each month (on data before it) for the tearsheet's timeline;
    with `portfolio.sizing.regime_scaling` on it is fitted anyway and scales the month's targets.
    """
    source = source or ReplaySource()
    require_within(start, end, data_range_of(source))  # outside the data is an error naming its range
    say = progress or (lambda _m: None)
    scaling = settings.portfolio.sizing.regime_scaling
    history_days = max(settings.portfolio.lookback_days, HISTORY_DAYS, FEATURE_WINDOW_DAYS,
                       REGIME_HISTORY_DAYS if with_regime or scaling else 0, settings.lstm_momentum.history_days()) + 1
    raw = source.fetch_ohlcv_1d(start - timedelta(days=history_days), end + timedelta(days=1))
    bars, _quarantined = split_valid_ohlcv(raw)
    by_day = {d: g for (d,), g in bars.partition_by("date", as_dict=True).items()}
    tape = MarketTape(bars.filter(pl.col("date") <= end))
    book = MemoryLedger()
    equity_rows, all_orders, all_fills, all_targets, all_exits, all_decisions, regimes = [], [], [], [], [], [], []
    breaker_days = 0
    twr_history: list[float] = []  # every valued day's TWR so far, for the drawdown circuit breaker
    prev_value, prev_twr, previous = 0, 0.0, None
    no_open = pl.DataFrame(schema={"symbol": pl.String, "open": pl.Float64})
    for month in _months(start, end):
        say(f"month {month:%Y-%m}")
        regime = _regime(bars.filter(pl.col("date") < month), month, settings) if with_regime or scaling else None
        if with_regime:
            regimes.append(regime)
        targets = month_targets(month, bars, source.fetch_market_caps(month), settings, previous,
                                regime["regime"] if scaling and regime else None,
                                None if lstm_scores is None else lstm_scores.filter(pl.col("month") == month).drop("month"))
        previous = targets
        all_targets.append(targets)
        day = max(month, start)
        month_end = min(end, date(month.year + (month.month == 12), month.month % 12 + 1, 1) - timedelta(days=1))
        spent_month = 0
        while day <= month_end:
            market = tape.view(day)
            nxt = by_day.get(day + timedelta(days=1))
            controls = Controls(spent_month_centavos=spent_month, twr_history=tuple(twr_history))
            plan, fills, status = simulate_day(day, book, market, nxt.select("symbol", "open") if nxt is not None else no_open,
                                               targets, settings, controls)
            breaker_days += plan.breaker.tripped
            spent_month += int(fills.filter(pl.col("side") == "buy")["amount_centavos"].sum()) if len(fills) else 0
            all_orders.append(plan.orders.with_columns(pl.col("client_order_id").replace_strict(status, default="new").alias("status")))
            all_fills.append(fills)
            all_exits.append(plan.exits)
            all_decisions.append(plan.decisions)
            value = book_value_centavos(book, market)
            totals = book.totals()
            perf = next_day_performance(prev_value, prev_twr, plan.contribution_centavos, value, totals.cash, totals.contributions)
            prev_value, prev_twr = value, perf.twr
            twr_history.append(perf.twr)
            equity_rows.append(
                {
                    "date": day,
                    "invested_brl": to_brl(totals.contributions),
                    "value_brl": to_brl(value),
                    "cash_brl": to_brl(totals.cash),
                    "contribution_brl": to_brl(plan.contribution_centavos),
                    "fees_brl": to_brl(totals.fees),
                    "daily_return": perf.daily_return,
                    "twr": perf.twr,
                }
            )
            day += timedelta(days=1)
    equity = pl.DataFrame(equity_rows)
    totals = book.totals()
    cdi = bundle.cdi()  # Sharpe/Sortino over the real CDI of the period; the fixed rate only past its end
    metrics = performance_metrics(equity, float(settings.portfolio.risk_free_rate), float(to_brl(totals.fees)), cdi=cdi)
    fills_all = pl.concat(all_fills) if all_fills else pl.DataFrame()
    metrics["total_slippage_brl"] = _slippage_brl(fills_all, settings.slippage_bps)
    invested = float(equity["invested_brl"][-1]) if len(equity) else 0.0
    metrics["cost_ratio"] = (metrics["total_fees_brl"] + metrics["total_slippage_brl"]) / invested if invested else 0.0
    targets_all = pl.concat(all_targets) if all_targets else pl.DataFrame(schema={"month": pl.Date, "symbol": pl.String, "weight": pl.Float64})
    bench = all_benchmarks(
        bars, targets_all, start, end, settings.budget_centavos, settings.fees.taker, ibovespa=bundle.ibovespa(),
        snapshots=bundle.universe_snapshots() if isinstance(source, ReplaySource) else None, cdi=cdi,
        fallback_rate=float(settings.portfolio.risk_free_rate), excluded_bases=tuple(settings.excluded_bases),
    )
    exits = pl.concat(all_exits) if all_exits else pl.DataFrame(schema=EXIT_SCHEMA)
    return BacktestResult(
        regimes=pl.DataFrame(regimes),
        benchmarks=bench,
        equity=equity,
        orders=pl.concat(all_orders) if all_orders else pl.DataFrame(),
        fills=fills_all,
        targets=targets_all,
        liquidations=exits,
        metrics={**metrics, "ledger_reconciles": float(totals.holds), "breaker_days": float(breaker_days),
                 "delisting_exits": float(len(exits))},
        decisions=pl.concat(all_decisions) if all_decisions else pl.DataFrame(schema=DECISION_SCHEMA),
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
