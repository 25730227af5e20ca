"""LSTM momentum: a small LSTM trained walk-forward, point in time, as an alternative momentum score.

Each month (as of its eve) one model is trained from scratch on the coins of the month's universe: inputs are a
coin's last `lookback_days` daily log returns divided by their own standard deviation (clipped at ±5); the target
is the next `horizon_days` log return divided by σ·√horizon, clipped at ±3, minus the mean over the coins on that
date (the score ranks coins, so the market's direction is noise to it). Training windows end every `stride_days`
days and their targets end on or before the eve; the score of a coin is the model's prediction for the window
ending on the eve. Only bars dated in the `history_days()` before the eve are read, so adding later bars (or
earlier ones) changes nothing. Training is seeded, single-threaded and uses PyTorch's deterministic algorithms.

PyTorch is the optional `lstm` extra and is imported only inside the functions that train.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dca_pipeline.config import LstmMomentumSettings

SCORE_COLUMN = "lstm_mom"
INPUT_CLIP = 5.0
TARGET_CLIP = 3.0


@dataclass(frozen=True)
class LstmFit:
    scores: pl.DataFrame  # symbol, lstm_mom (null where the eve's window has too few returns)
    train_windows: int
    train_loss: float  # mean Huber loss of the last epoch
    seconds: float


@dataclass(frozen=True)
class Windows:
    x: np.ndarray  # (n, lookback, 1) float32, volatility-scaled returns
    y: np.ndarray  # (n,) float32, cross-sectionally demeaned volatility-scaled forward return
    score_x: np.ndarray  # (k, lookback, 1) the eve's window of each scorable symbol
    score_symbols: list[str]


def daily_log_returns(bars: pl.DataFrame, symbols: list[str], first: date, last: date) -> tuple[list[str], np.ndarray]:
    """Calendar-day log returns (rows first..last, one column per symbol, sorted; NaN where a close is missing)."""
    days = pl.DataFrame({"date": pl.date_range(first - timedelta(days=1), last, "1d", eager=True)})
    syms = sorted(set(symbols))
    hist = bars.filter(pl.col("symbol").is_in(syms) & pl.col("date").is_between(first - timedelta(days=1), last))
    wide = days.join(hist.pivot(on="symbol", index="date", values="close", aggregate_function="last"), on="date", how="left")
    closes = np.column_stack([wide[s].cast(pl.Float64).to_numpy() if s in wide.columns else np.full(len(days), np.nan)
                              for s in syms]) if syms else np.empty((len(days), 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(np.where(closes > 0, closes, np.nan)), axis=0)
    return syms, r


def _scaled(window: np.ndarray, min_coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a (lookback, k) block: σ of the observed returns, and returns / σ clipped, NaN → 0.
    σ is NaN where coverage is short or the coin did not move (stablecoin-like)."""
    observed = ~np.isnan(window)
    n = observed.sum(axis=0)
    enough = observed.mean(axis=0) >= min_coverage
    filled = np.where(observed, window, 0.0)
    mean = filled.sum(axis=0) / np.maximum(n, 1)
    var = (np.where(observed, window - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    sigma = np.sqrt(var)
    sigma = np.where(enough & (sigma > 1e-8), sigma, np.nan)
    with np.errstate(invalid="ignore"):
        x = np.clip(np.nan_to_num(window / sigma, nan=0.0), -INPUT_CLIP, INPUT_CLIP)
    return sigma, x


def build_windows(bars: pl.DataFrame, as_of: date, symbols: list[str], cfg: LstmMomentumSettings) -> Windows:
    """The training windows (targets ending on or before `as_of`) and the eve's scoring windows, from bars dated in
    the `cfg.history_days()` days up to `as_of` only."""
    look, horizon = cfg.lookback_days, cfg.horizon_days
    first = as_of - timedelta(days=cfg.train_days + look + horizon - 1)
    syms, r = daily_log_returns(bars, symbols, first, as_of)
    last = r.shape[0] - 1  # index of as_of's return
    xs, ys = [], []
    end = last - horizon
    while end >= look - 1:  # anchored at the eve, every `stride_days` back
        sigma, x = _scaled(r[end - look + 1 : end + 1], cfg.min_coverage)
        fwd = r[end + 1 : end + 1 + horizon]
        fwd_ok = (~np.isnan(fwd)).mean(axis=0) >= cfg.min_coverage
        with np.errstate(invalid="ignore"):
            y = np.nansum(fwd, axis=0) / (sigma * math.sqrt(horizon))
        ok = fwd_ok & np.isfinite(y)
        if ok.sum() >= 2:
            y = np.clip(y[ok], -TARGET_CLIP, TARGET_CLIP)
            xs.append(x[:, ok].T)
            ys.append(y - y.mean())
        end -= cfg.stride_days
    sigma, x = _scaled(r[last - look + 1 : last + 1], cfg.min_coverage)
    scorable = np.isfinite(sigma)
    shape = (0, look, 1)
    return Windows(
        x=(np.concatenate(xs)[:, :, None] if xs else np.empty(shape)).astype(np.float32),
        y=(np.concatenate(ys) if ys else np.empty(0)).astype(np.float32),
        score_x=x[:, scorable].T[:, :, None].astype(np.float32),
        score_symbols=[s for s, ok in zip(syms, scorable) if ok],
    )


def _train_and_predict(w: Windows, cfg: LstmMomentumSettings) -> tuple[np.ndarray, float]:
    """Fit a 1-layer LSTM + linear head on (x, y); predict score_x. Seeded, deterministic, one thread; PyTorch's
    global thread count, determinism switch and random state are restored afterwards."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise ImportError(f"lstm_momentum.mode is {cfg.mode!r} but PyTorch is not installed: it is the `lstm` extra, "
                          "installed by `make install-lstm` (pip install -c constraints.txt torch==2.13.0)") from exc

    class Net(nn.Module):
        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, num_layers=1, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :]).squeeze(-1)

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = Net(cfg.hidden_size)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
            loss_fn = nn.HuberLoss()
            x, y = torch.from_numpy(w.x), torch.from_numpy(w.y)
            order = torch.Generator().manual_seed(cfg.seed)
            last_loss = float("nan")
            for _ in range(cfg.epochs):
                perm, total = torch.randperm(len(x), generator=order), 0.0
                for i in range(0, len(x), cfg.batch_size):
                    idx = perm[i : i + cfg.batch_size]
                    opt.zero_grad()
                    loss = loss_fn(net(x[idx]), y[idx])
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                last_loss = total / max(len(x), 1)
            with torch.no_grad():
                pred = net(torch.from_numpy(w.score_x)).numpy().astype(np.float64) if len(w.score_x) else np.empty(0)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    return pred, last_loss


def lstm_momentum_scores(bars: pl.DataFrame, as_of: date, symbols: list[str], cfg: LstmMomentumSettings) -> LstmFit:
    """Train on `symbols`' windows before `as_of` and score each symbol's window ending on `as_of`.

    Returns one row per symbol (sorted); `lstm_mom` is null where the eve's window has too few returns, and for
    every symbol when there are fewer than `batch_size` training windows (too little history to learn from)."""
    t0 = time.perf_counter()
    syms = sorted(set(symbols))
    w = build_windows(bars, as_of, syms, cfg)
    values: dict[str, float] = {}
    loss = float("nan")
    if len(w.y) >= cfg.batch_size and w.score_symbols:
        pred, loss = _train_and_predict(w, cfg)
        values = dict(zip(w.score_symbols, pred.tolist()))
    scores = pl.DataFrame({"symbol": syms, SCORE_COLUMN: [values.get(s) for s in syms]},
                          schema={"symbol": pl.String, SCORE_COLUMN: pl.Float64})
    return LstmFit(scores, len(w.y), loss, time.perf_counter() - t0)


def with_lstm_momentum(factors: pl.DataFrame, history: pl.DataFrame, as_of: date, universe: list[str],
                       cfg: LstmMomentumSettings, precomputed: pl.DataFrame | None = None) -> pl.DataFrame:
    """`factors` with the `lstm_mom` column when `cfg.mode` is on (unchanged when off): `precomputed` (symbol,
    lstm_mom for this month) if given, else a model trained now on `universe` from `history` up to `as_of`."""
    if cfg.mode == "off":
        return factors
    scores = precomputed if precomputed is not None else lstm_momentum_scores(history, as_of, universe, cfg).scores
    return factors.join(scores.select("symbol", SCORE_COLUMN), on="symbol", how="left")


def walk_forward_scores(bars: pl.DataFrame, universes: dict[date, list[str]], cfg: LstmMomentumSettings,
                        progress: Callable[[str], None] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each month's scores (month, symbol, lstm_mom) from a model trained on that month's universe as of its eve,
    and one row of training statistics per month (month, train_windows, train_loss, seconds)."""
    frames, stats = [], []
    for month in sorted(universes):
        fit = lstm_momentum_scores(bars.filter(pl.col("date") < month), month - timedelta(days=1), universes[month], cfg)
        frames.append(fit.scores.with_columns(pl.lit(month).alias("month")).select("month", "symbol", SCORE_COLUMN))
        stats.append({"month": month, "train_windows": fit.train_windows, "train_loss": fit.train_loss, "seconds": fit.seconds})
        if progress:
            progress(f"lstm {month:%Y-%m}: {fit.train_windows} windows, loss {fit.train_loss:.4f}, {fit.seconds:.1f} s")
    schema = {"month": pl.Date, "symbol": pl.String, SCORE_COLUMN: pl.Float64}
    return (pl.concat(frames) if frames else pl.DataFrame(schema=schema)), pl.DataFrame(stats)
