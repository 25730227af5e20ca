"""Corporate actions of tokens: migrations, renames, redenominations, quote multipliers and airdrops.

The table `data/corporate_actions.csv` (one row per action, validated here by pydantic at load; a bad row is a
clear error naming the row) says, for each action, which base becomes which, at what ratio (units of `to_base`
per unit of `from_base`) and from which UTC date:

- migration / rename / redenomination: the holding and the price history of `from_base` continue as `to_base`
  from `effective_date` (quantity × ratio, price ÷ ratio, same cost basis);
- multiplier: a quote unit (`1000LUNC` = 1000 LUNC), in effect always (no date);
- airdrop: `ratio` × the `from_base` held becomes a new `to_base` holding at zero cost; the source holding and
  both price histories are untouched (a new coin's series starts on its own first bar, never stitched).

`continuous_history` applies the first three to bars **as of** a day: only actions effective on or before it,
so a run for a day before MATIC became POL still sees MATIC (point in time). `history_as_of` is what every
feature and factor computation calls (analytics, intelligence and portfolio assets, the backtest's month_targets):
`continuous_history` when an action applies to the window (`stitch_needed`), the bars untouched otherwise.
"""
from __future__ import annotations

import csv
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dca_pipeline.paths import bundled_data_dir

Kind = Literal["migration", "rename", "redenomination", "multiplier", "airdrop"]
CONTINUING = ("migration", "rename", "redenomination", "multiplier")  # the holding and its history carry on
SCHEMA = {
    "action_id": pl.String, "kind": pl.String, "from_base": pl.String, "to_base": pl.String, "ratio": pl.Float64,
    "effective_date": pl.Date, "record_date": pl.Date, "source": pl.String, "note": pl.String,
}
PRICE_COLS = ("open", "high", "low", "close")


class CorporateAction(BaseModel):
    """One row of the table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_id: str = Field(min_length=1)
    kind: Kind
    from_base: str = Field(min_length=1)
    to_base: str = Field(min_length=1)
    ratio: float = Field(gt=0)
    effective_date: date | None = None
    record_date: date | None = None
    source: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "CorporateAction":
        if self.from_base == self.to_base:
            raise ValueError(f"from_base and to_base are both {self.from_base}")
        if self.kind != "multiplier" and self.effective_date is None:
            raise ValueError(f"a {self.kind} needs an effective_date")
        if self.record_date and self.effective_date and self.record_date > self.effective_date:
            raise ValueError(f"record_date {self.record_date} is after effective_date {self.effective_date}")
        return self


class CorporateActionsError(ValueError):
    """The corporate-actions table cannot be used (the message names the file and the row)."""


def default_path() -> Path:
    return bundled_data_dir() / "corporate_actions.csv"


def load_corporate_actions(path: Path | str | None = None) -> pl.DataFrame:
    """The table as a frame (SCHEMA), in file order, every row validated; ids unique; at most one continuing
    action per from_base (a base cannot become two coins)."""
    path = Path(path) if path else default_path()
    return _load(str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> pl.DataFrame:
    if not Path(path).exists():
        raise CorporateActionsError(f"corporate actions table missing: {path}")
    rows: list[CorporateAction] = []
    with open(path, newline="") as fh:
        for line, raw in enumerate(csv.DictReader(fh), start=2):
            clean = {k: (v.strip() if isinstance(v, str) else v) or None for k, v in raw.items()}
            clean["source"], clean["note"] = clean.get("source") or "", clean.get("note") or ""
            try:
                rows.append(CorporateAction(**clean))
            except ValidationError as exc:
                raise CorporateActionsError(f"{path} line {line} ({raw.get('action_id')!r}): {exc}") from exc
    ids = [r.action_id for r in rows]
    if len(set(ids)) != len(ids):
        raise CorporateActionsError(f"{path}: duplicate action_id {sorted({i for i in ids if ids.count(i) > 1})}")
    continuing = [r.from_base for r in rows if r.kind in CONTINUING]
    if len(set(continuing)) != len(continuing):
        raise CorporateActionsError(f"{path}: a base continues as two coins: {sorted({b for b in continuing if continuing.count(b) > 1})}")
    return pl.DataFrame([r.model_dump() for r in rows], schema=SCHEMA)


def in_effect(actions: pl.DataFrame, as_of: date, kinds: tuple[str, ...] = CONTINUING) -> pl.DataFrame:
    """The actions of `kinds` effective on or before `as_of` (multipliers always)."""
    return actions.filter(pl.col("kind").is_in(kinds) & (pl.col("effective_date").is_null() | (pl.col("effective_date") <= as_of)))


def successor_map(actions: pl.DataFrame, as_of: date) -> dict[str, tuple[str, float]]:
    """from_base → (final base, cumulative ratio) for every continuing action in effect on `as_of` (chains
    followed: A → B → C gives A → C with the ratios multiplied)."""
    step = {f: (t, r) for k, f, t, r, eff in actions[["kind", "from_base", "to_base", "ratio", "effective_date"]].iter_rows()
            if k in CONTINUING and (eff is None or eff <= as_of)}  # in_effect's rows, without a filter per call
    out: dict[str, tuple[str, float]] = {}
    for base in step:
        target, ratio, seen = base, 1.0, {base}
        while target in step:
            target, r = step[target]
            ratio *= r
            if target in seen:
                raise CorporateActionsError(f"corporate actions form a cycle through {target}")
            seen.add(target)
        out[base] = (target, ratio)
    return out


def continuous_history(bars: pl.DataFrame, actions: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Bars with every continuing action in effect on `as_of` applied: the predecessor's bars dated before the
    action (all of them for a multiplier) are relabelled as the successor, prices ÷ ratio and base-unit volume ×
    ratio (BRL/USD volume unchanged), so the successor's series runs continuously through the switch. Where
    both have a bar on the same date, the successor's own bar wins. `bars` has `base` or `symbol` ("BASE/QUOTE")
    and `date`; other columns pass through. Actions after `as_of` are ignored (point in time)."""
    succ = successor_map(actions, as_of)
    if not succ or bars.is_empty():
        return bars
    key = "base" if "base" in bars.columns else "symbol"
    base_expr = pl.col(key).str.split("/").list.first() if key == "symbol" else pl.col(key)
    quote_expr = pl.col(key).str.split("/").list.get(1, null_on_oob=True) if key == "symbol" else pl.lit(None, pl.String)
    cut = {r["from_base"]: r["effective_date"] for r in in_effect(actions, as_of).iter_rows(named=True)}
    mapping = pl.DataFrame(
        {"_from": list(succ), "_to": [t for t, _ in succ.values()], "_ratio": [r for _, r in succ.values()],
         "_until": [cut[b] for b in succ]},
        schema={"_from": pl.String, "_to": pl.String, "_ratio": pl.Float64, "_until": pl.Date},
    )
    tagged = bars.with_columns(base_expr.alias("_from"), quote_expr.alias("_quote")).join(mapping, on="_from", how="left")
    moved = pl.col("_to").is_not_null() & (pl.col("_until").is_null() | (pl.col("date") < pl.col("_until")))
    scale = [(pl.when(moved).then(pl.col(c) / pl.col("_ratio")).otherwise(pl.col(c))).alias(c) for c in PRICE_COLS if c in bars.columns]
    if "volume" in bars.columns:
        scale.append(pl.when(moved).then(pl.col("volume") * pl.col("_ratio")).otherwise(pl.col("volume")).alias("volume"))
    new_key = pl.col("_to") if key == "base" else pl.col("_to") + pl.when(pl.col("_quote").is_not_null()).then("/" + pl.col("_quote")).otherwise(pl.lit(""))
    out = tagged.with_columns(*scale, pl.when(moved).then(new_key).otherwise(pl.col(key)).alias(key), moved.alias("_moved"))
    # a relabelled bar never replaces the successor's own bar of the same date
    out = out.sort("_moved").unique([key, "date"], keep="first", maintain_order=True)
    return out.select(bars.columns).sort(key, "date")


def _bases(bars: pl.DataFrame) -> set[str]:
    key = "base" if "base" in bars.columns else "symbol"
    names = bars.get_column(key).unique()
    return set(names.to_list()) if key == "base" else set(names.str.split("/").list.first().to_list())


def stitch_needed(bars: pl.DataFrame, as_of: date, actions: pl.DataFrame | None = None) -> bool:
    """Whether `continuous_history(bars, actions, as_of)` changes anything: some continuing action in effect on
    `as_of` has its predecessor among `bars` dated before the action (multipliers: any bar). Reads only the
    distinct bases, so a window with no such coin costs one `unique` and no join."""
    if bars.is_empty():
        return False
    actions = load_corporate_actions() if actions is None else actions
    live = in_effect(actions, as_of)
    if live.is_empty():
        return False
    present = _bases(bars) & set(live["from_base"].to_list())
    if not present:
        return False
    first = bars["date"].min()
    return any(eff is None or eff > first for base, eff in live.select("from_base", "effective_date").iter_rows() if base in present)


def history_as_of(bars: pl.DataFrame, as_of: date, actions: pl.DataFrame | None = None) -> pl.DataFrame:
    """The bars a decision for `as_of` reads: `continuous_history` as of `as_of` (only actions effective on or
    before it: point in time) when `stitch_needed`, else `bars` itself (the same object, untouched).

    The one entry point of every feature and factor computation: the daily features (analytics features_daily),
    the monthly tiers, scores and target covariances (intelligence, portfolio assets) and the backtester's
    month_targets all pass their window through it, so a coin that migrated (MATIC → POL on 2024-09-04, LUNA →
    LUNC) has one continuous series from the day the action is effective, and nothing changes before."""
    actions = load_corporate_actions() if actions is None else actions
    return continuous_history(bars, actions, as_of) if stitch_needed(bars, as_of, actions) else bars
