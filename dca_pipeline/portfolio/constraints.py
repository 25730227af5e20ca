"""Tier shares and per-asset caps, including the explicit policy for the seed's infeasible caps."""
from __future__ import annotations

from dataclasses import dataclass

from dca_pipeline.config import PortfolioSettings, Tier


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

