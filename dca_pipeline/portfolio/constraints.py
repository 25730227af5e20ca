"""Tier shares and per-asset caps, including the explicit policy for the seed's infeasible caps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dca_pipeline.config import PortfolioSettings, Tier

if TYPE_CHECKING:
    from dca_pipeline.portfolio.problem import PortfolioConstraints


@dataclass(frozen=True)
class TierBudget:
    """How much of the portfolio a tier gets and the per-asset cap inside it."""

    tier: str
    n_assets: int
    share: float  # fraction of the portfolio invested in this tier
    cap: float  # max weight of one asset of this tier
    relaxed: bool  # True when the configured max_weight had to be raised to make `share` reachable


@dataclass(frozen=True)
class ConstraintPlan:
    budgets: tuple[TierBudget, ...]
    policy: str
    cash_weight: float  # share left uninvested (only under the `cash` policy)
    notes: tuple[str, ...]


def plan_constraints(counts: dict[str, int], tiers: tuple[Tier, ...], settings: PortfolioSettings) -> ConstraintPlan:
    """Turn the seed's tier targets into feasible shares and caps for the selected assets.

    1. Targets are renormalized over the tiers that have assets (the seed's unassigned 5% and any empty
       tier's target go pro rata to the others): a DCA budget is meant to be invested.
    2. If a tier's share exceeds n_assets × max_weight (the seed: 18 × 5% = 90% < 95%), then under
       `relax_cap` the tier's cap becomes (1 + relax_headroom) × share / n_assets — the smallest feasible
       cap plus headroom, so the optimizer can still tell assets apart (headroom 0 pins equal weights) — and under `cash`
       the tier's share is cut to n_assets × max_weight and the rest stays in cash.
    """
    cap = float(settings.max_weight)
    present = [t for t in tiers if counts.get(t.name, 0) > 0]
    notes: list[str] = []
    if not present:
        return ConstraintPlan((), settings.infeasible_policy, 1.0, ("no eligible assets: everything stays in cash",))
    total_target = sum(float(t.allocation_target) for t in present)
    budgets: list[TierBudget] = []
    for t in present:
        n = counts[t.name]
        share = float(t.allocation_target) / total_target
        if share <= n * cap + 1e-12:
            budgets.append(TierBudget(t.name, n, share, cap, False))
        elif settings.infeasible_policy == "relax_cap":
            relaxed = min(1.0, share / n * (1 + float(settings.relax_headroom)))
            budgets.append(TierBudget(t.name, n, share, relaxed, True))
            notes.append(
                f"{t.name}: {n} assets × cap {cap:.2%} < share {share:.2%}; cap relaxed to {relaxed:.4%} "
                f"(smallest feasible {share / n:.4%} + {float(settings.relax_headroom):.0%} headroom)"
            )
        else:
            budgets.append(TierBudget(t.name, n, n * cap, cap, False))
            notes.append(f"{t.name}: share cut from {share:.2%} to {n * cap:.2%}; the rest stays in cash")
    cash = max(0.0, 1.0 - sum(b.share for b in budgets))
    if total_target < 1 or len(present) < len(tiers):
        notes.insert(0, f"targets of non-empty tiers sum to {total_target:.0%}; renormalized to 100% (fully invested DCA)")
    return ConstraintPlan(tuple(budgets), settings.infeasible_policy, cash, tuple(notes))



def seed_conflicts(counts: dict[str, int], tiers: tuple[Tier, ...], settings: PortfolioSettings) -> list[str]:
    """The configured constraints that cannot hold together for the selected assets, named, before any fallback.

    E.g. the seed: "18 assets × max_weight 5.00% = 90.00% < 95.00% required by tier targets".
    """
    cap = float(settings.max_weight)
    n = sum(counts.get(t.name, 0) for t in tiers)
    present = [t for t in tiers if counts.get(t.name, 0) > 0]
    out: list[str] = []
    if settings.min_assets > n:
        out.append(f"min_assets {settings.min_assets} > {n} eligible")
    if not present:
        return out
    raw_total = sum(float(t.allocation_target) for t in present)
    if n * cap < raw_total - 1e-12:
        out.append(f"{n} assets × max_weight {cap:.2%} = {n * cap:.2%} < {raw_total:.2%} required by tier targets")
    for t in present:
        k, share = counts[t.name], float(t.allocation_target) / raw_total
        if k * cap < share - 1e-12:
            out.append(
                f"{t.name}: {k} assets × max_weight {cap:.2%} = {k * cap:.2%} < tier share {share:.2%} "
                f"(target {float(t.allocation_target):.2%} renormalized over non-empty tiers)"
            )
    return out


def constraints_from_plan(
    plan: ConstraintPlan, tier_of: dict[str, str], settings: PortfolioSettings, previous: dict[str, float] | None = None
) -> PortfolioConstraints:
    """The optimizer's constraint set for a (feasible) plan: tier caps per asset, tier bounds share × (1 ∓ tier_band),
    invested = Σ shares, min_assets and the turnover cap vs `previous` weights."""
    from dca_pipeline.portfolio.problem import PortfolioConstraints

    budgets = {b.tier: b for b in plan.budgets}
    band = float(settings.tier_band)
    invested = sum(b.share for b in plan.budgets)
    bounds = {t: (b.share * (1 - band), min(invested, b.share * (1 + band))) for t, b in budgets.items()}
    return PortfolioConstraints(
        caps={s: budgets[t].cap for s, t in tier_of.items()},
        tier_of=dict(tier_of),
        tier_bounds=bounds,
        invested=invested,
        min_assets=settings.min_assets,
        previous=dict(previous or {}),
        turnover_cap=float(settings.turnover_cap) if previous else None,
    )
