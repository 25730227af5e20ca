"""The verdict: the strategy against BTC-only, top-20 market-cap, equal-weight, Ibovespa DCA and the CDI over one
window, with the same metrics for every curve (TWR CAGR, volatility, Sharpe over the real CDI, max drawdown, final
value vs invested), the share of the final value in the two largest positions, the result with the best coin left
out, in BRL and USD. Plain functions on frames; `run_verdict` drives them through `run_backtest`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from dca_pipeline.backtest.metrics import performance_metrics

CURVES = (  # (label, column of the curve frame)
    ("strategy", "strategy_brl"),
    ("BTC-only DCA", "btc_dca_brl"),
    ("top-20 mcap DCA (cap-weighted)", "top20_dca_brl"),
    ("equal-weight DCA (same universe)", "equal_weight_dca_brl"),
    ("Ibovespa DCA", "ibovespa_dca_brl"),
    ("CDI", "cdi_brl"),
)


# --- one curve ------------------------------------------------------------------------------------------------


def curve_equity(dates: list[date], invested: list[float], value: list[float | None]) -> pl.DataFrame:
    """A value curve as an equity frame: contribution = change of invested (the first day: all of it), the
    time-weighted daily return r = V_t / (V_{t−1} + CF_t) − 1 (contributions arrive at the start of the day, as in
    the strategy), and the chained TWR. Days before the curve has a value are dropped."""
    rows, prev_value, prev_inv, twr = [], 0.0, 0.0, 0.0
    for d, inv, v in zip(dates, invested, value):
        if v is None:  # no value yet: the contributions accumulate into the first valued day's flow
            continue
        flow = float(inv) - prev_inv
        prev_inv = float(inv)
        base = prev_value + flow
        r = float(v) / base - 1 if base > 0 else None
        twr = (1 + twr) * (1 + r) - 1 if r is not None else twr
        rows.append({"date": d, "invested_brl": float(inv), "value_brl": float(v), "contribution_brl": flow,
                     "daily_return": r, "twr": twr})
        prev_value = float(v)
    return pl.DataFrame(rows, schema={"date": pl.Date, "invested_brl": pl.Float64, "value_brl": pl.Float64,
                                      "contribution_brl": pl.Float64, "daily_return": pl.Float64, "twr": pl.Float64})


def curve_metrics(equity: pl.DataFrame, cdi: pl.DataFrame | None, fallback_rate: float) -> dict[str, float]:
    """TWR CAGR, volatility, Sharpe and Sortino over the CDI, max drawdown, final value, invested and their ratio."""
    if equity.is_empty():
        return {}
    m = performance_metrics(equity, fallback_rate, 0.0, cdi)
    m["final_over_invested"] = m["final_value_brl"] / m["invested_brl"] if m["invested_brl"] else float("nan")
    return m


def to_usd(equity: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    """The curve in USD: value at the day's USD/BRL (fx: date, usd_brl, one row per calendar day), each contribution
    converted on its own day, invested = their running sum; then the same TWR chain."""
    j = equity.join(fx.select("date", "usd_brl"), on="date", how="left").sort("date")
    if j["usd_brl"].null_count():
        missing = j.filter(pl.col("usd_brl").is_null())["date"]
        raise ValueError(f"no USD/BRL rate for {missing.len()} days from {missing.min()} to {missing.max()}")
    inv = (j["contribution_brl"] / j["usd_brl"]).cum_sum()
    return curve_equity(j["date"].to_list(), inv.to_list(), (j["value_brl"] / j["usd_brl"]).to_list())


# --- positions: concentration and the best coin ---------------------------------------------------------------


def coin_contributions(fills: pl.DataFrame, exits: pl.DataFrame | None, last_prices: dict[str, float]) -> pl.DataFrame:
    """Per coin: paid (amount incl. fee), received from exits (proceeds − fee), quantity still held, its value at
    the last price, and P&L = held value + received − paid; sorted by P&L, best first.

    `fills`: symbol, quantity, amount_centavos. `exits` (liquidations/exits records): symbol, quantity,
    proceeds_centavos, fee_centavos (missing fee: 0)."""
    paid = fills.group_by("symbol").agg(
        (pl.col("amount_centavos").sum() / 100).alias("paid_brl"),
        pl.col("quantity").cast(pl.Float64).sum().alias("bought"),
    )
    if exits is not None and not exits.is_empty():
        fee = pl.col("fee_centavos") if "fee_centavos" in exits.columns else pl.lit(0)
        out = exits.group_by("symbol").agg(
            ((pl.col("proceeds_centavos") - fee).sum() / 100).alias("received_brl"),
            pl.col("quantity").cast(pl.Float64).sum().alias("sold"),
        )
        paid = paid.join(out, on="symbol", how="full", coalesce=True)
    else:
        paid = paid.with_columns(pl.lit(0.0).alias("received_brl"), pl.lit(0.0).alias("sold"))
    prices = pl.DataFrame({"symbol": list(last_prices), "last_price": [float(v) for v in last_prices.values()]},
                          schema={"symbol": pl.String, "last_price": pl.Float64})
    frame = paid.fill_null(0.0).join(prices, on="symbol", how="left").with_columns(
        (pl.col("bought") - pl.col("sold")).clip(lower_bound=0).alias("held")
    ).with_columns((pl.col("held") * pl.col("last_price").fill_null(0.0)).alias("held_value_brl"))
    return frame.with_columns((pl.col("held_value_brl") + pl.col("received_brl") - pl.col("paid_brl")).alias("pnl_brl")).select(
        "symbol", "paid_brl", "received_brl", "held", "held_value_brl", "pnl_brl"
    ).sort("pnl_brl", "symbol", descending=[True, False])


def two_largest_share(contributions: pl.DataFrame, final_value_brl: float) -> tuple[float, list[str]]:
    """The share of the final portfolio value (cash included) held in the two largest positions, and which."""
    top = contributions.sort("held_value_brl", descending=True).head(2)
    if not final_value_brl or top.is_empty():
        return 0.0, []
    return float(top["held_value_brl"].sum()) / final_value_brl, top["symbol"].to_list()


def best_coin(contributions: pl.DataFrame) -> str | None:
    """The coin with the largest P&L contribution (None without any buys)."""
    return contributions["symbol"][0] if len(contributions) else None


def without_coin(settings, symbol: str):  # noqa: ANN001, ANN201 - Settings in, Settings out
    """The same configuration with `symbol`'s base added to `excluded_bases` (never targeted, never bought)."""
    base = symbol.split("/")[0]
    return settings.model_copy(update={"excluded_bases": tuple(dict.fromkeys((*settings.excluded_bases, base)))})


def last_prices(bars: pl.DataFrame, end: date) -> dict[str, float]:
    """Each symbol's last close on or before `end`."""
    last = bars.filter(pl.col("date") <= end).sort("date").group_by("symbol").agg(pl.col("close").last())
    return dict(zip(last["symbol"].to_list(), last["close"].to_list()))


# --- coverage and survivorship ----------------------------------------------------------------------------------


def coverage_table(
    snapshots: pl.DataFrame, bars: pl.DataFrame, months: list[date], rank_min: int, rank_max: int,
    excluded_bases: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Per month, the members of the point-in-time snapshot's rank band [rank_min, rank_max] (latest snapshot on or
    before the month's first day, excluded bases left out) with and without a daily bar on the month's eve: by
    count and by market cap, and the covered share of the band's market cap."""
    rows = []
    for m in months:
        snaps = snapshots.filter(pl.col("snapshot_date") <= m)
        if snaps.is_empty():
            continue
        snap = snaps.filter(pl.col("snapshot_date") == snaps["snapshot_date"].max())
        if "rank" not in snap.columns:
            snap = snap.with_columns(pl.col("market_cap_usd").rank("ordinal", descending=True).alias("rank"))
        band = snap.filter(pl.col("rank").is_between(rank_min, rank_max) & ~pl.col("base").is_in(list(excluded_bases)))
        listed = set(bars.filter(pl.col("date") == m - timedelta(days=1))["symbol"].to_list())
        has = band.with_columns((pl.col("base") + "/BRL").is_in(list(listed)).alias("bars"))
        cap_with = float(has.filter(pl.col("bars"))["market_cap_usd"].sum())
        cap_without = float(has.filter(~pl.col("bars"))["market_cap_usd"].sum())
        rows.append({
            "month": m, "snapshot_date": snap["snapshot_date"][0], "members": len(has),
            "with_bars": int(has["bars"].sum()), "without_bars": int((~has["bars"]).sum()),
            "mcap_with_bars_usd": cap_with, "mcap_without_bars_usd": cap_without,
            "mcap_covered": cap_with / (cap_with + cap_without) if cap_with + cap_without else 0.0,
            "missing": ", ".join(sorted(has.filter(~pl.col("bars"))["base"].to_list())),
        })
    return pl.DataFrame(rows, schema={"month": pl.Date, "snapshot_date": pl.Date, "members": pl.Int64, "with_bars": pl.Int64,
                                      "without_bars": pl.Int64, "mcap_with_bars_usd": pl.Float64,
                                      "mcap_without_bars_usd": pl.Float64, "mcap_covered": pl.Float64, "missing": pl.String})


def survivorship_bounds(runs: dict[str, tuple[dict[str, float], pl.DataFrame | None]]) -> pl.DataFrame:
    """One row per delisting policy (e.g. last_price = optimistic, write_off = pessimistic): final value, TWR,
    max drawdown and how many positions the policy touched (rows of its exits frame)."""
    rows = []
    for policy, (metrics, exits) in runs.items():
        rows.append({"policy": policy, "final_value_brl": metrics.get("final_value_brl"), "twr": metrics.get("twr"),
                     "cagr": metrics.get("cagr"), "max_drawdown": metrics.get("max_drawdown"),
                     "positions_touched": 0 if exits is None else len(exits),
                     "symbols": "" if exits is None or exits.is_empty() or "symbol" not in exits.columns
                     else ", ".join(sorted(set(exits["symbol"].to_list())))})
    return pl.DataFrame(rows)


# --- the table and the sentence --------------------------------------------------------------------------------


@dataclass
class WindowVerdict:
    """Everything the verdict prints for one window (plain values, so it can be rendered and tested alone)."""

    label: str
    start: date
    end: date
    rows: dict[str, dict[str, float]]  # curve label -> curve_metrics (BRL)
    rows_usd: dict[str, dict[str, float]] = field(default_factory=dict)
    top_two_share: float | None = None
    top_two: list[str] = field(default_factory=list)
    best_coin: str | None = None
    without_best: dict[str, float] = field(default_factory=dict)  # the strategy's curve_metrics without the best coin
    risk_free_note: str = ""
    notes: list[str] = field(default_factory=list)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None or v != v else fmt.format(v)


def verdict_markdown(w: WindowVerdict) -> str:
    """The window's markdown table: one row per curve × the verdict metrics, then the USD view."""
    head = ("| | TWR CAGR | volatility | Sharpe (CDI) | max drawdown | final vs invested (BRL) | top-2 positions | "
            "best coin left out |\n|---|---|---|---|---|---|---|---|")
    lines = [f"**{w.label}: {w.start} → {w.end}** (BRL)", "", head]
    for label, _col in CURVES:
        m = w.rows.get(label)
        if not m:
            lines.append(f"| {label} | n/a | n/a | n/a | n/a | n/a | | |")
            continue
        top2 = best = ""
        if label == "strategy":
            top2 = f"{_pct(w.top_two_share)} ({', '.join(s.split('/')[0] for s in w.top_two)})" if w.top_two_share is not None else "n/a"
            if w.best_coin and w.without_best:
                b = w.without_best
                best = (f"without {w.best_coin.split('/')[0]}: {b['final_value_brl']:,.0f} vs {b['invested_brl']:,.0f}, "
                        f"CAGR {_pct(b.get('cagr'))}, Sharpe {_num(b.get('sharpe'))}")
            else:
                best = "not run"
        sharpe = "— (the risk-free itself)" if label == "CDI" else _num(m.get("sharpe"))
        lines.append(
            f"| {label} | {_pct(m.get('cagr'))} | {_pct(m.get('volatility'))} | {sharpe} | "
            f"{_pct(m.get('max_drawdown'))} | {m['final_value_brl']:,.0f} / {m['invested_brl']:,.0f} "
            f"(×{m['final_over_invested']:.2f}) | {top2} | {best} |"
        )
    if w.rows_usd:
        lines += ["", "In USD (each contribution converted at its day's USD/BRL):", "",
                  "| | TWR CAGR | volatility | max drawdown | final vs invested (USD) |", "|---|---|---|---|---|"]
        for label, _col in CURVES:
            m = w.rows_usd.get(label)
            if m:
                lines.append(f"| {label} | {_pct(m.get('cagr'))} | {_pct(m.get('volatility'))} | {_pct(m.get('max_drawdown'))} | "
                             f"{m['final_value_brl']:,.0f} / {m['invested_brl']:,.0f} (×{m['final_over_invested']:.2f}) |")
    if w.risk_free_note:
        lines += ["", f"Sharpe {w.risk_free_note}."]
    lines += [f"- {n}" for n in w.notes]
    return "\n".join(lines)


def verdict_sentence(w: WindowVerdict, btc_label: str = "BTC-only DCA") -> str:
    """One plain sentence: did the strategy beat BTC-only DCA on Sharpe and on max drawdown in this window?"""
    s, b = w.rows.get("strategy"), w.rows.get(btc_label)
    if not s or not b:
        return f"{w.label}: no verdict (the strategy or {btc_label} has no curve in {w.start} → {w.end})."
    sharpe = s["sharpe"] > b["sharpe"]
    dd = s["max_drawdown"] > b["max_drawdown"]  # drawdowns are negative: closer to zero is better
    facts = (f"Sharpe {s['sharpe']:.2f} vs {b['sharpe']:.2f}, max drawdown {s['max_drawdown']:.1%} vs "
             f"{b['max_drawdown']:.1%}")
    if sharpe and dd:
        verb = "beat BTC-only DCA on both Sharpe and drawdown"
    elif not sharpe and not dd:
        verb = "did NOT beat BTC-only DCA, neither on Sharpe nor on drawdown"
    elif sharpe:
        verb = "beat BTC-only DCA on Sharpe but NOT on drawdown"
    else:
        verb = "beat BTC-only DCA on drawdown but NOT on Sharpe"
    return f"{w.label} ({w.start} → {w.end}): the strategy {verb} ({facts})."


# --- driving it through the backtest ------------------------------------------------------------------------------


def _bundle_frame(name: str) -> pl.DataFrame | None:
    """A bundled dataset if this build has it (cdi, universe_snapshots), else None."""
    from dca_pipeline.ingestion import bundle

    get = getattr(bundle, name, None)
    try:
        return get() if callable(get) else None
    except FileNotFoundError:
        return None


def _snapshots() -> pl.DataFrame | None:
    snaps = _bundle_frame("universe_snapshots")
    if snaps is None:
        snaps = _bundle_frame("market_cap_snapshots")
    return snaps


def window_verdict(
    settings, label: str, start: date, end: date, *, run: Callable | None = None, source=None,  # noqa: ANN001
    best_coin_rerun: bool = True, progress: Callable[[str], None] | None = None,
) -> tuple[WindowVerdict, object]:
    """Backtest [start, end] with `settings` through `run` (default `run_backtest`), rebuild every benchmark with the
    same cash rules, and measure all curves the same way; optionally rerun without the best coin.
    Returns the verdict and the strategy's BacktestResult."""
    from dca_pipeline.backtest.benchmarks import all_benchmarks
    from dca_pipeline.backtest.engine import run_backtest
    from dca_pipeline.ingestion import bundle
    from dca_pipeline.ingestion.row_rules import split_valid_ohlcv
    from dca_pipeline.ingestion.sources import ReplaySource

    run = run or run_backtest
    source = source or ReplaySource()
    say = progress or (lambda _m: None)
    say(f"{label}: strategy {start} → {end}")
    result = run(settings, start, end, source=source, progress=say)
    bars, _ = split_valid_ohlcv(source.fetch_ohlcv_1d(start - timedelta(days=31), end))
    cdi, snaps = _bundle_frame("cdi"), _snapshots()
    rf = float(settings.portfolio.risk_free_rate)
    bench = all_benchmarks(bars, result.targets, start, end, settings.budget_centavos, settings.fees.taker,
                           ibovespa=bundle.ibovespa(), snapshots=snaps, cdi=cdi, fallback_rate=rf,
                           excluded_bases=tuple(settings.excluded_bases))
    eq = result.equity.select("date", "invested_brl", pl.col("value_brl").alias("strategy_brl"))
    curves = eq.join(bench.drop("invested_brl"), on="date", how="left").sort("date")
    fx = source.fetch_fx_usd_brl(start, end)
    rows, rows_usd = {}, {}
    dates, invested = curves["date"].to_list(), curves["invested_brl"].to_list()
    for lbl, col in CURVES:
        if col not in curves.columns or curves[col].null_count() == len(curves):
            continue
        e = curve_equity(dates, invested, curves[col].to_list())
        rows[lbl] = curve_metrics(e, cdi, rf)
        rows_usd[lbl] = curve_metrics(to_usd(e, fx), None, 0.0)
    prices = last_prices(bars, end)
    contrib = coin_contributions(result.fills, _exits(result), prices) if len(result.fills) else pl.DataFrame(
        schema={"symbol": pl.String, "held_value_brl": pl.Float64, "pnl_brl": pl.Float64})
    final_value = rows.get("strategy", {}).get("final_value_brl", 0.0)
    share, top = two_largest_share(contrib, final_value)
    from dca_pipeline.backtest.metrics import risk_free_daily

    w = WindowVerdict(label, start, end, rows, rows_usd, share, top, risk_free_note=risk_free_daily(start, end, cdi, rf).note())
    if snaps is None:
        w.notes.append("top-20 benchmark not computed: no market-cap snapshots in this build")
    w.notes.append(coverage_note(window_coverage(settings, start, end, bars)))
    w.best_coin = best_coin(contrib)
    if best_coin_rerun and w.best_coin:
        say(f"{label}: rerun without {w.best_coin}")
        again = run(without_coin(settings, w.best_coin), start, end, source=source, progress=say)
        e = again.equity.select("date", "invested_brl", "value_brl")
        w.without_best = curve_metrics(curve_equity(e["date"].to_list(), e["invested_brl"].to_list(), e["value_brl"].to_list()), cdi, rf)
    return w, result


def _exits(result) -> pl.DataFrame | None:  # noqa: ANN001
    """The result's exit records: `exits` (new engine) or `liquidations` (before it)."""
    for name in ("exits", "liquidations"):
        frame = getattr(result, name, None)
        if frame is not None and not frame.is_empty() and {"symbol", "quantity", "proceeds_centavos"} <= set(frame.columns):
            return frame
    return None


VERDICT_WINDOWS = (("out of sample", date(2022, 1, 1), date(2025, 10, 31)), ("in sample", date(2018, 1, 1), date(2021, 12, 31)))


def verdict_report(windows: list[WindowVerdict], config_hash: str, command: str) -> str:
    """The whole markdown: how it was made (command, configuration hash), each window's table, and the sentence(s)."""
    parts = [f"Generated by `{command}` with the default configuration, sha256 `{config_hash}` "
             "(the configuration as it stood before the 2022-2025 window was looked at; no tuning on it).", ""]
    for w in windows:
        parts += [verdict_markdown(w), ""]
    parts += [verdict_sentence(w) for w in windows]
    return "\n".join(parts).rstrip() + "\n"


def survivorship_runs(
    settings, start: date, end: date, *, run: Callable | None = None, source=None,  # noqa: ANN001
    policies: tuple[str, ...] = ("last_price", "write_off"), progress: Callable[[str], None] | None = None,
) -> pl.DataFrame | None:
    """Both survivorship bounds: the backtest once per delisting policy (exit at the last price seen = optimistic,
    written off to zero = pessimistic), as a `survivorship_bounds` table."""
    from dca_pipeline.backtest.engine import run_backtest
    from dca_pipeline.backtest.sweep import override

    key = "delisting.policy"  # config.DelistingSettings: last_price (optimistic) | write_off (pessimistic)
    run = run or run_backtest
    runs = {}
    for policy in policies:
        if progress:
            progress(f"survivorship bound: {key}={policy}")
        r = run(override(settings, key, policy), start, end, source=source, progress=progress)
        exits = getattr(r, "exits", None)
        runs[policy] = (r.metrics, exits if exits is not None else getattr(r, "liquidations", None))
    return survivorship_bounds(runs)


def survivorship_markdown(table: pl.DataFrame | None) -> str:
    """The bounds as a markdown table (or the reason they are missing)."""
    if table is None:
        return "Survivorship bounds: not computed (this engine has no delisting-policy setting)."
    lines = ["| delisting policy | final value (BRL) | TWR | max drawdown | positions touched |", "|---|---|---|---|---|"]
    for r in table.iter_rows(named=True):
        lines.append(f"| {r['policy']} | {_num(r['final_value_brl'], '{:,.0f}')} | {_pct(r['twr'])} | {_pct(r['max_drawdown'])} | "
                     f"{r['positions_touched']} {('(' + r['symbols'] + ')') if r['symbols'] else ''} |")
    return "\n".join(lines)


README_START, README_END = "<!-- verdict:start -->", "<!-- verdict:end -->"


def replace_block(text: str, block: str) -> str:
    """`text` with everything between the verdict markers replaced by `block` (markers kept); a missing marker
    is a ValueError naming both."""
    i, j = text.find(README_START), text.find(README_END)
    if i < 0 or j < i:
        raise ValueError(f"no {README_START} … {README_END} block to replace")
    return text[: i + len(README_START)] + "\n" + block.rstrip() + "\n" + text[j:]


def tier_band(settings) -> tuple[int, int]:  # noqa: ANN001
    """The rank band the tiers cover (tiers_by: rank), or every rank (tiers_by: usd)."""
    if settings.tiers_by == "rank":
        return min(t.rank_min for t in settings.tiers), max(t.rank_max for t in settings.tiers)
    return 1, 10**6


def window_coverage(settings, start: date, end: date, bars: pl.DataFrame) -> pl.DataFrame | None:  # noqa: ANN001
    """The coverage table of the tiers' band for every month of [start, end] (None without snapshots)."""
    snaps = _snapshots()
    if snaps is None:
        return None
    months, m = [], start.replace(day=1)
    while m <= end:
        months.append(m)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    lo, hi = tier_band(settings)
    return coverage_table(snaps, bars, months, lo, hi, tuple(settings.excluded_bases))


def coverage_note(coverage: pl.DataFrame | None) -> str:
    """One line: how much of the band the daily bars covered over the window, and the worst month."""
    if coverage is None or coverage.is_empty():
        return "coverage: no point-in-time snapshots for this window"
    worst = coverage.sort("mcap_covered").row(0, named=True)
    return (f"coverage of the tiers' rank band: on average {coverage['with_bars'].mean():.0f} of "
            f"{coverage['members'].mean():.0f} members had daily bars ({coverage['mcap_covered'].mean():.0%} of the band's "
            f"market cap); least covered {worst['month']:%Y-%m}: {worst['with_bars']}/{worst['members']} "
            f"({worst['mcap_covered']:.0%})")
