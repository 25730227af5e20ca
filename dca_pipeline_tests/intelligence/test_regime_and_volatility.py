"""Regime HMM and GARCH volatility on synthetic data with known structure, including no-look-ahead checks."""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dca_pipeline.intelligence.regime import LABELS, fit_regimes, label_states, market_features
from dca_pipeline.intelligence.volatility import garch_forecast, volatility_regime_scores

START = date(2022, 1, 1)
BLOCK = 150
N_COINS = 6
# planted regime: (daily drift, common-factor vol, idiosyncratic vol); the common factor drives correlation
PLANTED = {
    "bull": (0.006, 0.012, 0.012),
    "bear": (-0.006, 0.024, 0.012),
    "sideways": (0.0, 0.003, 0.012),
    "crisis": (-0.012, 0.05, 0.012),
}


def _wide(returns: np.ndarray, start: date = START) -> pl.DataFrame:
    closes = 100 * np.exp(np.cumsum(np.vstack([np.zeros((1, returns.shape[1])), returns]), axis=0))
    dates = [start + timedelta(days=i) for i in range(len(closes))]
    return pl.DataFrame({"date": dates, **{f"C{k}": closes[:, k] for k in range(returns.shape[1])}})


def _planted(seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Four 150-day blocks (bull, bear, sideways, crisis) of 6 coins from a common factor, and the truth."""
    rng = np.random.default_rng(seed)
    blocks = []
    for drift, factor_vol, idio_vol in PLANTED.values():
        factor = drift + factor_vol * rng.standard_normal(BLOCK)
        blocks.append(factor[:, None] + idio_vol * rng.standard_normal((BLOCK, N_COINS)))
    wide = _wide(np.vstack(blocks))
    truth = pl.DataFrame({"date": wide["date"][1:], "truth": [lab for lab in PLANTED for _ in range(BLOCK)]})
    return wide, truth


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    wide, truth = _planted()
    return wide, truth, market_features(wide)


@pytest.fixture(scope="module")
def base_fit(planted):  # noqa: ANN001, ANN201
    _, _, features = planted
    return fit_regimes(features, features["date"].max(), seed=0)


# ---------------------------------------------------------------- features


def test_market_features_by_hand() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, size=(80, 1))
    wide = _wide(np.hstack([r, r, 2 * r]))  # perfectly correlated coins
    wide = wide.with_columns(pl.Series("LATE", [None] * 50 + [1.0 + 0.01 * i for i in range(31)]))
    feats = market_features(wide, window=10)
    assert feats.columns == ["date", "market_return", "market_volatility", "avg_correlation"]
    assert feats.null_count().sum_horizontal().item() == 0
    assert feats["date"].min() == START + timedelta(days=10)  # one day to get a return, ten for the windows
    first = feats.row(0, named=True)
    assert first["avg_correlation"] == pytest.approx(1.0)
    # equal-weight market return over the available coins; volatility = 10-day sample std × sqrt(365)
    market = (r[:, 0] + r[:, 0] + 2 * r[:, 0]) / 3
    assert first["market_return"] == pytest.approx(market[9])
    assert first["market_volatility"] == pytest.approx(np.std(market[:10], ddof=1) * math.sqrt(365))
    # LATE lists on day 50: it enters market_return at once, the correlation only after window // 2 overlaps
    day = feats.filter(pl.col("date") == START + timedelta(days=52)).row(0, named=True)
    late = math.log(1.02 / 1.01)
    assert day["market_return"] == pytest.approx((4 * r[51, 0] + late) / 4)
    assert day["avg_correlation"] == pytest.approx(1.0)
    later = feats.filter(pl.col("date") == START + timedelta(days=60)).row(0, named=True)
    assert later["avg_correlation"] < 0.99


def test_market_features_single_coin_has_no_correlation_rows() -> None:
    wide = _wide(np.random.default_rng(2).normal(0, 0.02, size=(60, 1)))
    assert market_features(wide, window=10).is_empty()


def test_market_features_do_not_leak_future_rows(planted) -> None:  # noqa: ANN001
    wide, _, full = planted
    cut = START + timedelta(days=400)
    truncated = market_features(wide.filter(pl.col("date") <= cut))
    assert truncated["date"].max() == cut
    shared = full.filter(pl.col("date") <= cut)
    assert truncated.equals(shared)


# ---------------------------------------------------------------- regimes


def test_planted_regimes_are_recovered(planted, base_fit) -> None:  # noqa: ANN001
    _, truth, features = planted
    hist = base_fit.history.join(truth, on="date")
    assert len(hist) == len(features)
    hit_rate = hist.group_by("truth").agg((pl.col("regime") == pl.col("truth")).mean().alias("hit"))
    rates = dict(hit_rate.iter_rows())
    assert set(rates) == set(LABELS)
    assert all(rate >= 0.7 for rate in rates.values()), rates
    assert base_fit.label == "crisis"  # the last training day sits in the planted crash
    assert base_fit.state_means["label"].to_list() == list(LABELS)
    means = {r["label"]: r for r in base_fit.state_means.iter_rows(named=True)}
    assert means["crisis"]["market_volatility"] == max(m["market_volatility"] for m in means.values())
    assert means["bull"]["market_return"] > means["sideways"]["market_return"] > means["bear"]["market_return"]


def test_probabilities_sum_to_one(base_fit) -> None:  # noqa: ANN001
    probs = base_fit.history.select(f"p_{label}" for label in LABELS).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert sum(base_fit.probabilities.values()) == pytest.approx(1.0)
    assert base_fit.probabilities[base_fit.label] == max(base_fit.probabilities.values())
    argmax = [LABELS[i] for i in probs.argmax(axis=1)]
    assert argmax == base_fit.history["regime"].to_list()
    assert base_fit.covariance_type in ("full", "diag")
    assert math.isfinite(base_fit.log_likelihood)


def test_labels_do_not_depend_on_the_seed(planted, base_fit) -> None:  # noqa: ANN001
    _, _, features = planted
    other = fit_regimes(features, features["date"].max(), seed=11)
    same = (other.history["regime"] == base_fit.history["regime"]).mean()
    assert same >= 0.9


def test_no_look_ahead_future_rows_change_nothing(planted) -> None:  # noqa: ANN001
    wide, _, _ = planted
    as_of = START + timedelta(days=450)  # inside the sideways block
    past = wide.filter(pl.col("date") <= as_of)
    last = np.array(past.select(pl.exclude("date")).row(-1))
    wild = np.random.default_rng(99).normal(-0.3, 0.5, size=(120, N_COINS))  # a crash far beyond anything seen
    closes = last * np.exp(np.cumsum(wild, axis=0))
    dates = [as_of + timedelta(days=i + 1) for i in range(120)]
    future = pl.DataFrame({"date": dates, **{c: closes[:, k] for k, c in enumerate(past.columns[1:])}})
    polluted = pl.concat([past, future])

    before = fit_regimes(market_features(past), as_of, seed=0)
    after = fit_regimes(market_features(polluted), as_of, seed=0)
    assert after.label == before.label
    for label in LABELS:
        assert after.probabilities[label] == pytest.approx(before.probabilities[label], abs=1e-9)
    assert after.history.equals(before.history)
    assert after.history["date"].max() == as_of


def test_too_few_training_rows_raises_with_count(planted) -> None:  # noqa: ANN001
    _, _, features = planted
    as_of = features["date"].min() + timedelta(days=49)  # 50 feature rows on or before as_of
    with pytest.raises(ValueError, match=r"got 50 "):
        fit_regimes(features, as_of)


def test_label_rule_for_two_three_and_four_states() -> None:
    # columns: return, volatility, correlation
    four = np.array([[0.0, 0.1, 0.2], [0.01, 0.2, 0.3], [-0.02, 0.9, 0.9], [-0.01, 0.3, 0.5]])
    assert label_states(four) == ["sideways", "bull", "crisis", "bear"]
    tie = np.array([[0.01, 0.9, 0.5], [-0.01, 0.9, 0.8], [0.0, 0.1, 0.1], [0.02, 0.2, 0.1]])
    assert label_states(tie)[1] == "crisis"  # equal volatility: correlation breaks the tie
    assert label_states(four[:3]) == ["bear", "bull", "crisis"]
    assert label_states(four[:2]) == ["bear", "bull"]
    with pytest.raises(ValueError, match="2, 3 or 4"):
        label_states(np.zeros((5, 3)))


def test_three_states_have_no_sideways(planted) -> None:  # noqa: ANN001
    _, _, features = planted
    fit = fit_regimes(features, features["date"].max(), n_states=3, n_init=2)
    assert set(fit.history["regime"].unique()) <= {"bull", "bear", "crisis"}
    assert fit.history["p_sideways"].max() == 0.0
    assert fit.probabilities["sideways"] == 0.0
    assert fit.state_means["label"].to_list() == ["bull", "bear", "crisis"]
    with pytest.raises(ValueError, match="got 5"):
        fit_regimes(features, features["date"].max(), n_states=5)


# ---------------------------------------------------------------- GARCH


def _simulate_garch(n: int, omega: float, alpha: float, beta: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burn = 500
    var = omega / (1 - alpha - beta)
    eps = np.empty(n + burn)
    for t in range(n + burn):
        eps[t] = math.sqrt(var) * rng.standard_normal()
        var = omega + alpha * eps[t] ** 2 + beta * var
    return eps[burn:] / 100  # percent -> log returns


def test_garch_recovers_known_persistence() -> None:
    r = _simulate_garch(3000, omega=0.05, alpha=0.1, beta=0.85, seed=3)
    fc = garch_forecast(pl.Series(r))
    assert fc.method == "garch11"
    assert fc.converged
    assert fc.n_obs == 3000
    assert abs(fc.persistence - 0.95) <= 0.05
    assert fc.persistence == pytest.approx(fc.alpha + fc.beta)
    unconditional = math.sqrt(0.05 / 0.05) / 100 * math.sqrt(365)  # percent variance 1 -> ~19% a year
    assert 0.5 * unconditional < fc.annualized_vol < 2 * unconditional


def test_garch_short_input_falls_back_to_sample_std() -> None:
    r = np.random.default_rng(4).normal(0, 0.03, 50)
    with_gaps = pl.Series([*r.tolist(), None, float("nan")])
    fc = garch_forecast(with_gaps)
    assert fc.method == "sample_std_fallback"
    assert not fc.converged
    assert fc.n_obs == 50
    assert fc.annualized_vol == pytest.approx(np.std(r, ddof=1) * math.sqrt(365))
    assert math.isnan(fc.persistence)


def test_garch_empty_input_is_nan() -> None:
    fc = garch_forecast(np.array([]))
    assert math.isnan(fc.annualized_vol)
    assert fc.n_obs == 0
    assert fc.method == "sample_std_fallback"


def _long_closes(as_of: date, days: int = 400) -> pl.DataFrame:
    frames = []
    for k, (symbol, sigma) in enumerate([("AAA", 0.02), ("BBB", 0.05)]):
        r = _simulate_garch(days, omega=0.05 * (sigma / 0.02) ** 2, alpha=0.1, beta=0.85, seed=10 + k)
        dates = [as_of - timedelta(days=days - 1 - i) for i in range(days)]
        frames.append(pl.DataFrame({"symbol": symbol, "date": dates, "close": 50 * np.exp(np.cumsum(r))}))
    short = pl.DataFrame({"symbol": "NEW", "date": [as_of - timedelta(days=i) for i in range(40)][::-1]})
    short = short.with_columns(close=pl.Series(10 * np.exp(np.cumsum(np.full(40, 0.01) * (-1) ** np.arange(40)))))
    return pl.concat([*frames, short])


def test_volatility_scores_are_point_in_time() -> None:
    as_of = date(2024, 6, 30)
    closes = _long_closes(as_of)
    scores = volatility_regime_scores(closes, as_of)
    assert scores.columns == ["symbol", "garch_vol", "realized_vol_30", "vol_ratio", "method", "converged"]
    assert scores["symbol"].to_list() == ["AAA", "BBB", "NEW"]
    by = {r["symbol"]: r for r in scores.iter_rows(named=True)}
    assert by["AAA"]["method"] == by["BBB"]["method"] == "garch11"
    assert by["NEW"]["method"] == "sample_std_fallback"  # 39 returns < 100
    assert by["BBB"]["garch_vol"] > by["AAA"]["garch_vol"]
    for row in by.values():
        assert row["vol_ratio"] == pytest.approx(row["garch_vol"] / row["realized_vol_30"])
    aaa = closes.filter(pl.col("symbol") == "AAA").sort("date")["close"].log().diff().drop_nulls()
    expected = np.std(aaa.to_numpy()[-30:], ddof=1) * math.sqrt(365)
    assert by["AAA"]["realized_vol_30"] == pytest.approx(expected)

    shock = pl.DataFrame(
        {
            "symbol": ["AAA", "BBB", "AAA", "NEW"],
            "date": [as_of + timedelta(days=d) for d in (1, 1, 2, 5)],
            "close": [1e9, 1e-9, 1e-6, 1e12],
        }
    )
    assert volatility_regime_scores(pl.concat([closes, shock]), as_of).equals(scores)


def test_closed_form_forecast_equals_arch_forecast() -> None:
    """Given arch's fitted parameters, our closed-form variance path equals arch's analytic forecast."""
    from arch import arch_model

    from dca_pipeline.intelligence.garch import GarchFit, forecast_mean_variance

    rng = np.random.default_rng(11)
    r = rng.standard_t(5, 400) * 0.03
    res = arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal").fit(disp="off")
    p = res.params
    fit = GarchFit(
        float(p["mu"]), float(p["omega"]), float(p["alpha[1]"]), float(p["beta[1]"]),
        float(np.asarray(res.resid)[-1]), float(np.asarray(res.conditional_volatility)[-1]) ** 2, float(res.loglikelihood), True,
    )
    theirs = float(res.forecast(horizon=30, reindex=False).variance.to_numpy()[-1].mean())
    assert forecast_mean_variance(fit, 30) == pytest.approx(theirs, rel=1e-10)


def test_window_features_cut_from_a_longer_history_equal_the_window_s_own(planted) -> None:  # noqa: ANN001
    """The backtest computes market features once for the whole history and cuts each month's window from them;
    the cut must be exactly what the market_regime asset computes on the window alone (every value, every row)."""
    from dca_pipeline.intelligence.regime import window_features

    wide, _, full = planted
    for start, end in ((START + timedelta(days=100), START + timedelta(days=450)), (START, START + timedelta(days=200))):
        alone = market_features(wide.filter(pl.col("date").is_between(start, end)))
        cut = window_features(full, wide["date"], start, end)
        assert len(alone) > 100 and cut.equals(alone)
