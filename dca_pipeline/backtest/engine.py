"""Walk-forward DCA simulation over history: the production day (execution/day.py) on an in-memory book.

Monthly (data strictly before the month): tiers → factor scores (features of the month's eve) → target weights,
with the month's regime when regime scaling is on. Daily: `simulate_day` — the same `plan_day` as the `dca_orders`
asset (delisting exits, stale-price skips, buys, rebalance sells, breaker, pre-send guards and spend caps), the
same paper fill function as the paper broker, and the ledger protocol's `MemoryLedger` — then valuation at the last
close and the time-weighted return. The backtester itself holds no order, fill, guard or ledger logic.

What does not change between months or between runs on the same data lives in `MarketHistory`: the bars (loaded
and validated once), the daily features (one pass over the whole history: every indicator is a trailing window,
so a month's eve row reads nothing after the eve), the market-regime features (likewise), each month's market-cap
snapshot, and every GARCH forecast and regime fit already made (keyed by what they depend on). A sweep of N
configurations passes one `MarketHistory` to every run. `BacktestResult.timings` holds the wall seconds of each
stage (STAGES).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from time import perf_counter

import polars as pl

from dca_pipeline.analytics.indicators import FEATURE_WINDOW_DAYS, compute_features
from dca_pipeline.backtest.benchmarks import all_benchmarks
from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.corporate_actions import history_as_of
from dca_pipeline.ingestion.errors import DataNotAvailable
from dca_pipeline.backtest.metrics import performance_metrics
from dca_pipeline.backtest.window import data_range_of, months_between as _months, require_within
from dca_pipeline.config import Settings
from dca_pipeline.execution.day import DECISION_SCHEMA, EXIT_SCHEMA, Controls, MarketTape, book_value_centavos, simulate_day
from dca_pipeline.execution.intraday_fill import ExecutionParams, execute_orders
from dca_pipeline.execution.ledger_protocol import MemoryLedger
from dca_pipeline.execution.tca import SHORTFALL_SCHEMA, implementation_shortfall, shortfall_summary
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource
from dca_pipeline.intelligence.scores import compute_factors, score_assets
from dca_pipeline.intelligence.tiers import tiers_for_month
from dca_pipeline.intelligence.lookbacks import REGIME_HISTORY_DAYS
from dca_pipeline.intelligence.volatility import GARCH_LOOKBACK_DAYS, volatility_regime_scores
from dca_pipeline.intelligence.lstm_momentum import with_lstm_momentum
from dca_pipeline.money import to_brl
from dca_pipeline.execution.positions import next_day_performance
from dca_pipeline.portfolio.targets import build_targets

HISTORY_DAYS = 400  # factors look back at most this far (the intelligence assets' FACTOR_HISTORY_DAYS)
STAGES = ("data", "features", "tiers", "scores", "garch", "hmm", "optimisation", "daily loop", "benchmarks")


class StageTimer:
    """Wall seconds per stage, accumulated over a run: `with timer("garch"): ...`; `seconds` keeps STAGES' order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + perf_counter() - t0


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
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (STAGES), this run only
    # implementation shortfall per order (execution/tca.py) of the configured execution model and, when that is not
    # market_open, of next-open market orders for the same orders (not booked: the comparison)
    tca: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SHORTFALL_SCHEMA))

    @property
    def exits(self) -> pl.DataFrame:
        """Delisting exits: date, symbol, quantity, price used, price date, policy, proceeds (= `liquidations`)."""
        return self.liquidations


def history_days_for(settings: Settings, with_regime: bool) -> int:
    """How many days before the first month a run reads: the longest lookback any monthly step uses."""
    regime = with_regime or settings.portfolio.sizing.regime_scaling
    return max(settings.portfolio.lookback_days, HISTORY_DAYS, FEATURE_WINDOW_DAYS, REGIME_HISTORY_DAYS if regime else 0,
               settings.lstm_momentum.history_days()) + 1


class MarketHistory:
    """The data a run reads, loaded once and shared by every run over it (a sweep, an A/B, attribution).

    Holds the validated daily bars of [first, last], and computes on first use, once: the daily features of the
    whole history, the regime features per set of excluded symbols, each month's market-cap snapshot, and caches
    every GARCH forecast (by symbol and as-of day: it reads only that coin's closes of the year before) and every
    regime fit (by month and excluded symbols). Every cached value depends only on data before its month.
    """

    def __init__(self, source: MarketDataSource, first: date, last: date) -> None:
        self.source, self.first, self.last = source, first, last
        raw = source.fetch_ohlcv_1d(first, last)
        self.bars, self.quarantined = split_valid_ohlcv(raw)
        self.bars = self.bars.sort("symbol", "date")
        self.by_day = {d: g for (d,), g in self.bars.partition_by("date", as_dict=True).items()}
        self._features: dict[date, pl.DataFrame] | None = None
        self._no_features = pl.DataFrame()
        self._caps: dict[date, pl.DataFrame] = {}
        self.garch: dict[tuple[str, date], tuple] = {}
        self.regimes: dict[tuple, dict] = {}
        self._regime_features: dict[tuple[str, ...], tuple[pl.DataFrame, pl.Series]] = {}

    @classmethod
    def for_run(cls, source: MarketDataSource, settings: Settings, start: date, end: date, with_regime: bool) -> MarketHistory:
        """The history one run of [start, end] needs (every lookback before `start`, the next day's open after `end`)."""
        return cls(source, start - timedelta(days=history_days_for(settings, with_regime)), end + timedelta(days=1))

    def covers(self, first: date, last: date) -> bool:
        return self.first <= first and last <= self.last

    def eve_features(self, eve: date) -> pl.DataFrame:
        """The features on `eve` (a month's last day) of every symbol with a bar that day: one `compute_features` pass
        over the whole history on first call, month-eve rows kept. The EMA/Wilder indicators start at each coin's
        first loaded bar instead of 400 days before the eve: the two differ by less than (13/14)^400 ≈ 1e-13
        relative (RSI 14, the slowest), far below anything a score or weight resolves."""
        if self._features is None:  # only month eves are ever asked for: keep those rows
            feats = compute_features(self.bars).filter(pl.col("date") == pl.col("date").dt.month_end())
            self._features = {d: g for (d,), g in feats.partition_by("date", as_dict=True).items()}
            self._no_features = feats.clear()
        if (eve + timedelta(days=1)).day != 1:
            raise ValueError(f"eve_features serves month eves (last days) only, got {eve}")
        return self._features.get(eve, self._no_features)

    def caps(self, month: date) -> pl.DataFrame:
        if month not in self._caps:
            self._caps[month] = self.source.fetch_market_caps(month)
        return self._caps[month]

    def regime_features(self, excluded: tuple[str, ...]) -> tuple[pl.DataFrame, pl.Series]:
        """`market_features` of the whole history without `excluded` symbols (trailing windows only), and the dates
        of its wide close frame (`regime.window_features` cuts a month's window from both)."""
        from dca_pipeline.intelligence.regime import market_features

        if excluded not in self._regime_features:
            wide = self.bars.filter(~pl.col("symbol").is_in(list(excluded))).pivot(on="symbol", index="date", values="close").sort("date")
            self._regime_features[excluded] = (market_features(wide), wide["date"])
        return self._regime_features[excluded]


def _volatility(history: MarketHistory, bars: pl.DataFrame, symbols: list[str], eve: date) -> pl.DataFrame:
    """`volatility_regime_scores` of `symbols` as of `eve`, fitting only the (symbol, eve) pairs not cached yet."""
    todo = [s for s in symbols if (s, eve) not in history.garch]
    if todo:
        window = bars.filter(pl.col("symbol").is_in(todo) & pl.col("date").is_between(eve - timedelta(days=GARCH_LOOKBACK_DAYS - 1), eve))
        scores = volatility_regime_scores(window.select("symbol", "date", "close"), eve)
        for row in scores.iter_rows():
            history.garch[(row[0], eve)] = row
    schema = {"symbol": pl.String, "garch_vol": pl.Float64, "realized_vol_30": pl.Float64, "vol_ratio": pl.Float64,
              "method": pl.String, "converged": pl.Boolean}
    rows = [history.garch[(s, eve)] for s in sorted(symbols) if (s, eve) in history.garch]
    return pl.DataFrame(rows, schema=schema, orient="row")


def bars_as_of_eve(bars: pl.DataFrame, month: date, settings: Settings) -> tuple[pl.DataFrame, bool]:
    """The bars month `month` decides on: the window of every lookback before it (`history_days_for`) as the
    continuous history as of the month's eve (`ingestion.corporate_actions.history_as_of`, the function the
    assets use: only actions effective on or before the eve). When no action applies to that window (nearly every
    month) returns `bars` itself and False, so the month reads exactly what it did without the table."""
    eve = month - timedelta(days=1)
    window = bars.filter(pl.col("date").is_between(month - timedelta(days=history_days_for(settings, False)), eve))
    pit = history_as_of(window, eve)
    return (bars, False) if pit is window else (pit, True)


def month_targets(month: date, bars: pl.DataFrame, caps: pl.DataFrame, settings: Settings, previous: pl.DataFrame | None,
                  regime: str | None, lstm: pl.DataFrame | None = None, *, history: MarketHistory | None = None,
                  timer: StageTimer | None = None) -> pl.DataFrame:
    """The month's targets from bars before it: the monthly assets' calls on the same windows.

    With `history` (the backtest's), the eve's features come from its one pass over the whole history and GARCH
    forecasts from its cache (except in a month a corporate action applies to: `bars_as_of_eve` then stitches the
    window and its features are computed from it, as the assets do); without it they are computed here from `bars` (the 400-day window, as the assets do).
    `lstm`: the month's precomputed LSTM momentum scores (symbol, lstm_mom); trained here when the flag is on and
    none is given.
    """
    timer = timer or StageTimer()
    eve = month - timedelta(days=1)
    with timer("data"):
        bars, stitched = bars_as_of_eve(bars, month, settings)
    with timer("tiers"):
        recent = bars.filter(pl.col("date").is_between(month - timedelta(days=HISTORY_DAYS), eve))
        tiers = tiers_for_month(recent, caps, month, settings)
    with timer("features"):
        if history is not None and not stitched:  # the one pass over raw bars is right unless an action applies
            features = history.eve_features(eve)
        else:
            features = compute_features(recent.filter(pl.col("date") > eve - timedelta(days=FEATURE_WINDOW_DAYS))).filter(pl.col("date") == eve)
    symbols = tiers.filter(pl.col("tier").is_not_null())["symbol"].to_list()
    with timer("garch"):
        vol = _volatility(history, recent, symbols, eve) if history is not None else None
    with timer("scores"):
        factors = compute_factors(recent, features, tiers, eve, volatility=vol)
        if settings.lstm_momentum.mode != "off" or lstm is not None:
            factors = with_lstm_momentum(factors, bars.filter(pl.col("date") < month), eve, tiers["symbol"].to_list(),
                                         settings.lstm_momentum, lstm)
        scores = score_assets(factors, settings.scoring, settings.lstm_momentum.momentum_weight())
    with timer("optimisation"):
        closes = bars.filter(pl.col("date").is_between(month - timedelta(days=settings.portfolio.lookback_days), eve)).select("symbol", "date", "close")
        return build_targets(month, scores, closes, settings, previous, regime).weights


def run_backtest(
    settings: Settings,
    start: date,
    end: date,
    source: MarketDataSource | None = None,
    progress: Callable[[str], None] | None = None,
    with_regime: bool = False,
    history: MarketHistory | None = None,
    month_progress: Callable[[int, int], None] | None = None,  # (months done, months in the window) after each month
    lstm_scores: pl.DataFrame | None = None,  # month, symbol, lstm_mom (lstm_momentum.walk_forward_scores)
) -> BacktestResult:
    """Simulate daily DCA from `start` to `end` (inclusive) with monthly targets; returns curves and metrics.

    `with_regime` also fits the market-regime HMM each month (on data before it) for the tearsheet's timeline;
    with `portfolio.sizing.regime_scaling` on it is fitted anyway and scales the month's targets.
    `history` shares loaded data and caches between runs (it must cover the run's lookbacks; `source` is then unused).
    """
    timer = StageTimer()
    t_run = perf_counter()
    if history is not None:
        source = history.source
    source = source or ReplaySource()
    require_within(start, end, data_range_of(source))  # outside the data is an error naming its range
    say = progress or (lambda _m: None)
    scaling = settings.portfolio.sizing.regime_scaling
    first, last = start - timedelta(days=history_days_for(settings, with_regime)), end + timedelta(days=1)
    with timer("data"):
        if history is None or not history.covers(first, last):
            history = MarketHistory(source, first, last)
        bars = history.bars.filter(pl.col("date").is_between(first, last))
        tape = MarketTape(bars.filter(pl.col("date") <= end))
    by_day = history.by_day
    book = MemoryLedger()
    equity_rows, all_orders, all_fills, all_targets, all_exits, all_decisions, regimes = [], [], [], [], [], [], []
    breaker_days = 0
    twr_history: list[float] = []  # every valued day's TWR so far, for the drawdown circuit breaker
    prev_value, prev_twr, previous = 0, 0.0, None
    no_open = pl.DataFrame(schema={"symbol": pl.String, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64})
    model = settings.execution.model
    hourly = _stored_hours(source, start, end) if model != "market_open" else None
    all_tca: list[pl.DataFrame] = []
    for month in _months(start, end):
        say(f"month {month:%Y-%m}")
        regime = None
        if with_regime or scaling:
            with timer("hmm"):
                regime = _regime(bars, month, settings, history=history)
        if with_regime:
            regimes.append(regime)
        with timer("data"):
            caps = history.caps(month)
        lstm = None if lstm_scores is None else lstm_scores.filter(pl.col("month") == month).drop("month")
        targets = month_targets(month, bars, caps, settings, previous, regime["regime"] if scaling and regime else None,
                                lstm, history=history, timer=timer)
        previous = targets
        all_targets.append(targets)
        day = max(month, start)
        month_end = min(end, date(month.year + (month.month == 12), month.month % 12 + 1, 1) - timedelta(days=1))
        spent_month = 0
        with timer("daily loop"):
            while day <= month_end:
                market = tape.view(day)
                nxt = by_day.get(day + timedelta(days=1))
                controls = Controls(spent_month_centavos=spent_month, twr_history=tuple(twr_history))
                nxt_bars = nxt[["symbol", "open", "high", "low", "close"]] if nxt is not None else no_open
                plan, fills, status = simulate_day(day, book, market, nxt_bars, targets, settings, controls, hourly)
                if model != "market_open" and len(plan.orders):  # the same orders as next-open market orders, not booked
                    all_tca.append(execute_orders(plan.orders, nxt_bars, ExecutionParams.from_settings(settings, "market_open"))[0])
                breaker_days += plan.breaker.tripped
                spent_month += sum(a for s, a in zip(fills["side"].to_list(), fills["amount_centavos"].to_list()) if s == "buy")
                all_orders.append(_with_status(plan.orders, status))
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
        if month_progress:  # all_targets holds one entry per month simulated so far
            month_progress(len(all_targets), len(_months(start, end)))
    with timer("benchmarks"):
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
        orders_all = pl.concat(all_orders) if all_orders else pl.DataFrame()
        tca = implementation_shortfall(orders_all, fills_all, model)
        if all_tca:
            tca = pl.concat([tca, implementation_shortfall(orders_all, pl.concat(all_tca), "market_open")])
        metrics.update(_shortfall_metrics(tca, model))
    timings = {**timer.seconds, "total": perf_counter() - t_run}
    return BacktestResult(
        regimes=pl.DataFrame(regimes),
        benchmarks=bench,
        equity=equity,
        orders=orders_all,
        fills=fills_all,
        targets=targets_all,
        liquidations=exits,
        metrics={**metrics, "ledger_reconciles": float(totals.holds), "breaker_days": float(breaker_days),
                 "delisting_exits": float(len(exits))},
        decisions=pl.concat(all_decisions) if all_decisions else pl.DataFrame(schema=DECISION_SCHEMA),
        timings=timings,
        tca=tca,
    )


def _with_status(orders: pl.DataFrame, status: dict[str, str]) -> pl.DataFrame:
    """The orders with `status` set from the fill outcome per client_order_id (`new` when it has none), built
    eagerly: a copy with the column replaced (with_columns would run a query per simulated day)."""
    if not len(orders):
        return orders
    out = orders.clone()
    ids = out["client_order_id"].to_list()
    out.replace_column(out.get_column_index("status"), pl.Series("status", [None if i is None else status.get(i, "new") for i in ids], pl.String))
    return out


def _stored_hours(source: MarketDataSource, start: date, end: date) -> pl.DataFrame | None:
    """The source's hourly bars over the run (plus the day after it), or None when it has none — the bundled replay
    holds daily bars only, so twap/maker_first then run on hours derived from each daily bar (intraday_fill)."""
    try:
        hours = source.fetch_ohlcv("1h", start + timedelta(days=1), end + timedelta(days=2))
    except (DataNotAvailable, NotImplementedError):
        return None
    return hours if len(hours) else None


def _shortfall_metrics(tca: pl.DataFrame, model: str) -> dict[str, float]:
    """shortfall_bps of the model, shortfall_market_open_bps and their difference (negative = the model was cheaper)."""
    summary = {r["model"]: r for r in shortfall_summary(tca).iter_rows(named=True)}
    mine = summary.get(model, {}).get("shortfall_bps", 0.0) or 0.0
    base = summary.get("market_open", {}).get("shortfall_bps", 0.0) or 0.0
    return {"shortfall_bps": mine, "shortfall_brl": summary.get(model, {}).get("shortfall_brl", 0.0) or 0.0,
            "shortfall_market_open_bps": base, "shortfall_vs_market_open_bps": mine - base}


def _regime(bars: pl.DataFrame, month: date, settings: Settings, history: MarketHistory | None = None) -> dict:
    """The month's regime from an HMM fit on the REGIME_HISTORY_DAYS before it (same code as the asset).

    Only bars before `month` are read. With `history`, the regime features come from its one pass over the whole
    history (`regime.window_features`: exactly the rows the asset's window yields, bit for bit) and the fit is
    cached for other runs on the same history. Every fit is cold (k-means + restarts), as in the asset: warm starts
    from last month's fit were measured and rejected (docs/portfolio.md).
    """
    from dca_pipeline.intelligence.regime import fit_regimes, market_features, window_features

    excluded = tuple(sorted(f"{b}/BRL" for b in settings.excluded_bases))
    start, eve = month - timedelta(days=REGIME_HISTORY_DAYS), month - timedelta(days=1)
    if history is not None and (month, excluded) in history.regimes:
        return history.regimes[(month, excluded)]
    if history is not None:
        feats = window_features(*history.regime_features(excluded), start, eve)
    else:
        window = bars.filter(pl.col("date").is_between(start, eve) & ~pl.col("symbol").is_in(list(excluded)))
        feats = market_features(window.pivot(on="symbol", index="date", values="close").sort("date"))
    try:
        r = fit_regimes(feats, eve)
    except ValueError:
        out: dict = {"month": month, "regime": None}
    else:
        out = {"month": month, "regime": r.label, **{f"p_{k}": v for k, v in r.probabilities.items()}}
    if history is not None:
        history.regimes[(month, excluded)] = out
    return out


def _slippage_brl(fills: pl.DataFrame, slippage_bps: float) -> float:
    """What buying above the next open cost: Σ notional × (1 − 1 / (1 + slippage))."""
    if fills.is_empty():
        return 0.0
    notional = float(sum(fills["notional_centavos"].to_list())) / 100
    return notional * (1 - 1 / (1 + slippage_bps / 10_000))
