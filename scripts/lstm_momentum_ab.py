"""A/B backtest of the LSTM momentum flag against plain momentum, after fees and slippage (docs/lstm_momentum.md).

Trains the walk-forward LSTM once per month (on that month's universe, data before the month only; the training time
of every month is printed), then backtests the same period with `lstm_momentum.mode` off (plain momentum, A),
`replace` and `blend`, each through `run_backtest` with the precomputed scores, and prints one row per variant:
CAGR, Sharpe, max drawdown, mean monthly target turnover, fees + slippage, training time per month, and the
information coefficient (Spearman rank correlation of the signal with the coins' return over the month, tiered
coins only) of the LSTM score and of plain momentum.

Run: PYTHONPATH=. nice -n 10 python scripts/lstm_momentum_ab.py [--start 2022-01-01 --end 2025-10-31]
     [--seeds 0 1 2] [--variants plain replace blend]   (other seeds: how much of a difference is the seed's)
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import date, timedelta

import polars as pl

from dca_pipeline.backtest.ab import apply_flag_set
from dca_pipeline.backtest.engine import run_backtest
from dca_pipeline.backtest.window import months_between
from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.intelligence.lstm_momentum import SCORE_COLUMN, walk_forward_scores
from dca_pipeline.intelligence.scores import risk_adjusted_momentum, zscore
from dca_pipeline.intelligence.tiers import tiers_for_month

VARIANTS = {"plain": {"lstm_momentum": {"mode": "off"}},
            "replace": {"lstm_momentum": {"mode": "replace"}},
            "blend": {"lstm_momentum": {"mode": "blend", "blend_weight": 0.5}}}
LABELS = {"plain": "plain momentum (A)", "replace": "LSTM replace", "blend": "LSTM blend 0.5"}


def mean_turnover(targets: pl.DataFrame) -> float:
    """Mean one-way turnover ½ Σ |w_m − w_{m−1}| of the monthly targets (from the second month)."""
    wide = targets.pivot(on="symbol", index="month", values="weight", aggregate_function="sum").sort("month").fill_null(0.0)
    w = wide.drop("month").to_numpy()
    return float((abs(w[1:] - w[:-1]).sum(axis=1) / 2).mean()) if len(w) > 1 else 0.0


def spearman(a: list[float], b: list[float]) -> float:
    frame = pl.DataFrame({"a": a, "b": b}).drop_nulls().drop_nans()
    if len(frame) < 3:
        return float("nan")
    return float(frame.select(pl.corr(pl.col("a").rank(), pl.col("b").rank())).item())


def information_coefficients(bars: pl.DataFrame, tiers: dict[date, pl.DataFrame], lstm: pl.DataFrame) -> dict[str, list[float]]:
    """Per month: Spearman IC of the LSTM score and of plain momentum (the momentum group's score: mean of the
    within-tier z-scores of mom_30/90/180) with each tiered coin's log return from the eve's close to the month's
    last close."""
    out: dict[str, list[float]] = {"lstm": [], "plain": []}
    for month, tier in tiers.items():
        eve = month - timedelta(days=1)
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1) - timedelta(days=1)
        tiered = tier.filter(pl.col("tier").is_not_null()).select("symbol", "tier")
        hist = bars.filter((pl.col("date") <= eve) & (pl.col("date") > eve - timedelta(days=400)) & pl.col("symbol").is_in(tiered["symbol"]))
        mom = tiered.join(risk_adjusted_momentum(hist, eve), on="symbol", how="left")
        plain = mom.with_columns(*[zscore(f"mom_{w}").alias(f"z{w}") for w in (30, 90, 180)]).select(
            "symbol", pl.mean_horizontal("z30", "z90", "z180").alias("plain"))
        c0 = bars.filter(pl.col("date") == eve).select("symbol", pl.col("close").alias("c0"))
        c1 = bars.filter(pl.col("date") <= nxt).sort("date").group_by("symbol").last().select("symbol", pl.col("close").alias("c1"))
        frame = (plain.join(lstm.filter(pl.col("month") == month).select("symbol", SCORE_COLUMN), on="symbol", how="left")
                 .join(c0, on="symbol", how="left").join(c1, on="symbol", how="left")
                 .with_columns((pl.col("c1") / pl.col("c0")).log().alias("fwd")))
        out["lstm"].append(spearman(frame[SCORE_COLUMN].to_list(), frame["fwd"].to_list()))
        out["plain"].append(spearman(frame["plain"].to_list(), frame["fwd"].to_list()))
    return out


def ic_summary(ics: list[float]) -> str:
    xs = [x for x in ics if not math.isnan(x)]
    if len(xs) < 2:
        return "n/a"
    m, s = statistics.mean(xs), statistics.stdev(xs)
    return f"{m:+.3f} (t {m / s * math.sqrt(len(xs)):+.2f}, {sum(x > 0 for x in xs)}/{len(xs)} months > 0)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2022, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 10, 31))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    base = load_settings()
    cfg = apply_flag_set(base, VARIANTS["replace"]).lstm_momentum
    source = ReplaySource()
    months = months_between(args.start, args.end)
    t0 = time.perf_counter()
    bars, _ = split_valid_ohlcv(source.fetch_ohlcv_1d(args.start - timedelta(days=cfg.history_days() + 1), args.end + timedelta(days=1)))
    tiers = {m: tiers_for_month(bars.filter(pl.col("date") < m), source.fetch_market_caps(m), m, base) for m in months}
    print(f"data and universes: {time.perf_counter() - t0:.1f} s; model: LSTM(1 layer, hidden {cfg.hidden_size}), "
          f"{cfg.lookback_days}-day inputs, {cfg.horizon_days}-day target, {cfg.train_days} training days, "
          f"stride {cfg.stride_days}, {cfg.epochs} epochs, seeds {args.seeds}", flush=True)
    rows = []
    for seed in args.seeds:
        lstm, stats = walk_forward_scores(bars, {m: t["symbol"].to_list() for m, t in tiers.items()},
                                          cfg.model_copy(update={"seed": seed}), progress=lambda s: print(s, flush=True))
        secs = stats["seconds"]
        print(f"seed {seed}: training time per month: mean {secs.mean():.1f} s, median {secs.median():.1f} s, max "
              f"{secs.max():.1f} s, total {secs.sum():.0f} s over {len(stats)} months (one thread, measured under load)", flush=True)
        ics = information_coefficients(bars, tiers, lstm)
        print(f"seed {seed}: IC vs the month's return, tiered coins: LSTM {ic_summary(ics['lstm'])}; "
              f"plain momentum {ic_summary(ics['plain'])}", flush=True)
        for name in args.variants:
            overlay = VARIANTS[name]
            if name == "plain" and seed != args.seeds[0]:
                continue  # plain momentum does not depend on the seed
            t1 = time.perf_counter()
            result = run_backtest(apply_flag_set(base, overlay, name), args.start, args.end, source=source, lstm_scores=lstm)
            m = result.metrics
            label = LABELS[name] + ("" if name == "plain" else f" (seed {seed})")
            rows.append({"variant": label, "cagr": m["cagr"], "sharpe": m["sharpe"], "max_drawdown": m["max_drawdown"],
                         "turnover": mean_turnover(result.targets), "fees_brl": m["total_fees_brl"],
                         "slippage_brl": m["total_slippage_brl"], "final_value_brl": m["final_value_brl"],
                         "train_s_per_month": 0.0 if name == "plain" else float(secs.median())})
            print(f"backtest {label}: {time.perf_counter() - t1:.1f} s", flush=True)
    table = pl.DataFrame(rows)
    print(f"\n{args.start} → {args.end}, invested R$ {result.metrics['invested_brl']:,.0f}, after fees and slippage\n")
    print("| variant | CAGR | Sharpe | max drawdown | turnover/month | fees + slippage (R$) | final value (R$) | training s/month (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table.iter_rows(named=True):
        print(f"| {r['variant']} | {r['cagr']:.2%} | {r['sharpe']:.3f} | {r['max_drawdown']:.2%} | {r['turnover']:.1%} | "
              f"{r['fees_brl'] + r['slippage_brl']:,.2f} | {r['final_value_brl']:,.2f} | {r['train_s_per_month']:.1f} |")


if __name__ == "__main__":
    main()
