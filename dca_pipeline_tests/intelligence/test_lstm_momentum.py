"""LSTM momentum: the config flag, windows by hand, point in time, determinism, a planted signal, the score blend
and the backtest wiring. Tiny models on a few coins (seconds); PyTorch is the `lstm` extra (`make test` installs it)."""
from __future__ import annotations

import importlib.util
import math
import statistics
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from dca_pipeline.config import LstmMomentumSettings, load_settings
from dca_pipeline.intelligence.lstm_momentum import build_windows, lstm_momentum_scores, with_lstm_momentum
from dca_pipeline.intelligence.scores import score_assets

AS_OF = date(2022, 3, 31)
TINY = dict(lookback_days=10, horizon_days=3, train_days=30, stride_days=1, hidden_size=4, epochs=2, batch_size=16)


def _bars(closes: dict[str, list[float]], last: date) -> pl.DataFrame:
    rows = [{"symbol": s, "date": last - timedelta(days=len(c) - 1 - i), "close": float(x)}
            for s, c in closes.items() for i, x in enumerate(c)]
    return pl.DataFrame(rows)


def _random_closes(n_coins: int, days: int, seed: int, drifts: list[float] | None = None,
                   noise: float = 0.03) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_coins):
        mu = drifts[i] if drifts else 0.0
        out[f"C{i}/BRL"] = list(100 * np.exp(np.cumsum(mu + noise * rng.standard_normal(days))))
    return out


# ---------------------------------------------------------------------------------------------- configuration
def test_flag_defaults_off_and_is_validated() -> None:
    s = load_settings()
    assert s.lstm_momentum.mode == "off"
    assert s.lstm_momentum.momentum_weight() == 0.0
    assert s.lstm_momentum.history_days() == 0  # off: the backtest fetches no extra history
    with pytest.raises(ValidationError, match="mode"):
        LstmMomentumSettings(mode="on")
    with pytest.raises(ValidationError, match="blend_weight"):
        LstmMomentumSettings(mode="blend", blend_weight=1.5)
    assert LstmMomentumSettings(mode="replace").momentum_weight() == 1.0
    assert LstmMomentumSettings(mode="blend", blend_weight=0.3).momentum_weight() == 0.3
    assert LstmMomentumSettings(mode="replace", train_days=365, lookback_days=60, horizon_days=21).history_days() == 447


# ---------------------------------------------------------------------------------------------- windows by hand
def test_windows_by_hand() -> None:
    cfg = LstmMomentumSettings(mode="replace", **TINY)
    closes = _random_closes(3, 60, seed=1)
    bars = _bars(closes, AS_OF)
    w = build_windows(bars, AS_OF, list(closes), cfg)
    # ends every day from lookback-1 to the last whose 3-day target ends on AS_OF: train_days + 1 ends, 3 coins each
    assert w.x.shape == ((30 + 1) * 3, 10, 1) and w.y.shape == ((30 + 1) * 3,)
    # the first block is the window ending 3 days before AS_OF (its target is AS_OF-2..AS_OF), coins in name order
    logs = {s: [math.log(c[i] / c[i - 1]) for i in range(1, len(c))] for s, c in closes.items()}
    raw = []
    for s in sorted(closes):
        r = logs[s]
        window, fwd = r[-13:-3], r[-3:]
        sd = statistics.stdev(window)
        np.testing.assert_allclose(w.x[len(raw), :, 0], [min(max(v / sd, -5), 5) for v in window], rtol=1e-5)
        raw.append(max(min(sum(fwd) / (sd * math.sqrt(3)), 3), -3))
    np.testing.assert_allclose(w.y[:3], [v - statistics.mean(raw) for v in raw], rtol=1e-4, atol=1e-6)
    # the eve's scoring windows: the last 10 returns of each coin
    assert w.score_symbols == sorted(closes)
    r0 = logs[sorted(closes)[0]][-10:]
    np.testing.assert_allclose(w.score_x[0, :, 0], [v / statistics.stdev(r0) for v in r0], rtol=1e-5)


def test_windows_skip_thin_history_and_flat_coins() -> None:
    cfg = LstmMomentumSettings(mode="replace", **TINY)
    closes = _random_closes(2, 60, seed=2)
    closes["NEW/BRL"] = [1.0 + 0.01 * i for i in range(8)]  # listed 8 days ago: no 10-day window
    closes["USDX/BRL"] = [1.0] * 60  # a coin that never moves has no volatility to scale by
    w = build_windows(_bars(closes, AS_OF), AS_OF, list(closes), cfg)
    assert w.score_symbols == ["C0/BRL", "C1/BRL"]
    assert w.x.shape[0] == (30 + 1) * 2


# ---------------------------------------------------------------------------------------------- the model
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the `lstm` extra (torch) is not installed")


@needs_torch
def test_scores_are_point_in_time_and_deterministic() -> None:
    cfg = LstmMomentumSettings(mode="replace", **TINY)
    closes = _random_closes(4, 70, seed=3)
    bars = _bars(closes, AS_OF)
    base = lstm_momentum_scores(bars, AS_OF, list(closes), cfg)
    assert base.train_windows == 31 * 4 and base.scores["lstm_mom"].null_count() == 0
    # bars after AS_OF (a crash) and bars long before the training window change nothing
    future = _bars({s: [1e-3 * (i + 1) for i in range(30)] for s in closes}, AS_OF + timedelta(days=30))
    past = _bars({s: [5.0] * 100 for s in closes}, AS_OF - timedelta(days=cfg.history_days()))
    for extra in (future, past):
        again = lstm_momentum_scores(pl.concat([bars, extra]), AS_OF, list(closes), cfg)
        assert again.scores.equals(base.scores)
    # same seed, same result (also from shuffled input rows); another seed, another model
    shuffled = lstm_momentum_scores(bars.sample(fraction=1.0, shuffle=True, seed=9), AS_OF, list(closes), cfg)
    assert shuffled.scores.equals(base.scores)
    other = lstm_momentum_scores(bars, AS_OF, list(closes), cfg.model_copy(update={"seed": 1}))
    assert not other.scores.equals(base.scores)
    # PyTorch's global state is left as it was
    import torch

    assert not torch.are_deterministic_algorithms_enabled()


@needs_torch
def test_too_little_history_scores_nothing() -> None:
    cfg = LstmMomentumSettings(mode="replace", **{**TINY, "batch_size": 256})
    closes = _random_closes(3, 70, seed=4)
    fit = lstm_momentum_scores(_bars(closes, AS_OF), AS_OF, list(closes), cfg)
    assert fit.train_windows == 93 and fit.scores["lstm_mom"].null_count() == 3  # 93 < one batch of 256


@needs_torch
def test_model_learns_a_planted_drift_ranking() -> None:
    """Each coin has its own constant drift (unknown to the model, which sees only its vol-scaled returns): the
    next days' relative return is predictable from the window, so the scores must rank coins by their drift.
    (Daily noise 1%: a 20-day mean return has a 0.22% standard error, neighbours drift 0.4% apart.)"""
    drifts = [-0.012, -0.008, -0.004, 0.0, 0.004, 0.008, 0.012, 0.016]
    cfg = LstmMomentumSettings(mode="replace", lookback_days=20, horizon_days=5, train_days=120, stride_days=1,
                               hidden_size=8, epochs=15, batch_size=64, learning_rate=0.01)
    closes = _random_closes(len(drifts), 200, seed=5, drifts=drifts, noise=0.01)
    fit = lstm_momentum_scores(_bars(closes, AS_OF), AS_OF, list(closes), cfg)
    got = fit.scores.sort("symbol")["lstm_mom"].to_list()
    rank_corr = float(pl.DataFrame({"a": got, "b": drifts}).select(pl.corr(pl.col("a").rank(), pl.col("b").rank())).item())
    assert rank_corr >= 0.8, (rank_corr, got)


# ---------------------------------------------------------------------------------------------- the score blend
def _factors() -> pl.DataFrame:
    return pl.DataFrame({"symbol": ["A", "B", "C"], "tier": ["t"] * 3, "mom_30": [3.0, 2.0, 1.0],
                         "mom_90": [3.0, 2.0, 1.0], "mom_180": [3.0, 2.0, 1.0], "lstm_mom": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("weight, expected", [(0.0, [1.0, 0.0, -1.0]), (1.0, [-1.0, 0.0, 1.0]), (0.5, [0.0, 0.0, 0.0]),
                                              (0.25, [0.5, 0.0, -0.5])])
def test_momentum_group_blends_plain_and_lstm_by_hand(weight: float, expected: list[float]) -> None:
    # plain: z of 3, 2, 1 (mean 2, sample std 1) = 1, 0, -1 in each window; LSTM: z of 1, 2, 3 = -1, 0, 1
    out = score_assets(_factors(), lstm_weight=weight).sort("symbol")
    assert out["momentum_score"].to_list() == pytest.approx(expected)


def test_with_lstm_momentum_off_leaves_factors_alone_and_joins_a_precomputed_frame() -> None:
    factors = _factors().drop("lstm_mom")
    assert with_lstm_momentum(factors, pl.DataFrame(), AS_OF, ["A"], LstmMomentumSettings()) is factors
    pre = pl.DataFrame({"symbol": ["A", "C", "Z"], "lstm_mom": [0.5, -0.5, 9.0]})
    out = with_lstm_momentum(factors, pl.DataFrame(), AS_OF, ["A"], LstmMomentumSettings(mode="blend"), pre)
    assert out.sort("symbol")["lstm_mom"].to_list() == [0.5, None, -0.5]


# ---------------------------------------------------------------------------------------------- backtest wiring
@needs_torch
def test_backtest_trains_in_the_month_or_takes_the_precomputed_scores() -> None:
    from dca_pipeline.backtest.ab import apply_flag_set
    from dca_pipeline.backtest.engine import run_backtest
    from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
    from dca_pipeline.ingestion.sources import ReplaySource
    from dca_pipeline.intelligence.lstm_momentum import walk_forward_scores
    from dca_pipeline.intelligence.tiers import tiers_for_month

    month, end = date(2022, 1, 1), date(2022, 1, 10)
    settings = apply_flag_set(load_settings(), {"lstm_momentum": {"mode": "replace", **{**TINY, "stride_days": 5}}})
    inline = run_backtest(settings, month, end)
    source = ReplaySource()
    bars, _ = split_valid_ohlcv(source.fetch_ohlcv_1d(month - timedelta(days=500), month))
    universe = tiers_for_month(bars.filter(pl.col("date") < month), source.fetch_market_caps(month), month, settings)
    scores, stats = walk_forward_scores(bars, {month: universe["symbol"].to_list()}, settings.lstm_momentum)
    assert stats["train_windows"][0] > 0 and scores["lstm_mom"].null_count() < len(scores)
    pre = run_backtest(settings, month, end, lstm_scores=scores)
    assert pre.targets.equals(inline.targets) and pre.equity.equals(inline.equity)
    # the scores do steer the targets: the opposite ranking picks other coins
    flipped = run_backtest(settings, month, end, lstm_scores=scores.with_columns(-pl.col("lstm_mom")))
    assert set(flipped.targets["symbol"]) != set(inline.targets["symbol"])


def test_importing_the_definitions_does_not_import_torch() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys, dca_pipeline.definitions; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
