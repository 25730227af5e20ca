"""The constraint set of one portfolio optimization, its pre-solve conflict check and its repair fallback.

Weights are fractions of the whole portfolio; `invested` < 1 leaves the rest in cash. Everything here is pure.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

TOL = 1e-9


class InfeasibleConstraints(ValueError):
    """Raised when the constraints conflict and no fallback applies; the message names every conflict."""


@dataclass(frozen=True)
class PortfolioConstraints:
    """Per-asset caps, tier bounds (absolute weight fractions), min holdings and turnover vs `previous`.

    `min_assets` is enforced convexly: caps are tightened to `invested / min_assets`, so at least `min_assets`
    weights are positive (the k-th largest weight is then ≥ invested / (k·(n−k+1))).
    """

    caps: dict[str, float]
    tier_of: dict[str, str] = field(default_factory=dict)
    tier_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    invested: float = 1.0
    min_assets: int = 1
    previous: dict[str, float] = field(default_factory=dict)
    turnover_cap: float | None = None

    @property
    def symbols(self) -> list[str]:
        return list(self.caps)

    def effective_caps(self) -> dict[str, float]:
        """Per-asset caps after the min-assets tightening (never above `invested`)."""
        limit = self.invested / max(1, min(self.min_assets, len(self.caps)))
        return {s: min(c, limit, self.invested) for s, c in self.caps.items()}

    def members(self, tier: str) -> list[str]:
        return [s for s in self.caps if self.tier_of.get(s) == tier]

    def describe(self) -> str:
        """One-line summary for metadata."""
        caps = sorted({round(c, 6) for c in self.caps.values()})
        cap_txt = f"{caps[0]:.2%}" if len(caps) == 1 else f"{caps[0]:.2%}–{caps[-1]:.2%}"
        tiers = ", ".join(f"{t} [{lo:.2%}, {hi:.2%}]" for t, (lo, hi) in sorted(self.tier_bounds.items()))
        turnover = f"{self.turnover_cap:.0%}" if self.turnover_cap is not None and self.previous else "off"
        return (
            f"{len(self.caps)} assets, cap {cap_txt}, invested {self.invested:.2%}, min_assets {self.min_assets}, "
            f"tiers {tiers or 'none'}, turnover cap {turnover}"
        )


def unconstrained(symbols: list[str]) -> PortfolioConstraints:
    """Long-only, fully invested, nothing else: the textbook problem."""
    return PortfolioConstraints(caps={s: 1.0 for s in symbols})


def find_conflicts(c: PortfolioConstraints) -> list[str]:
    """Every way the constraints cannot all hold, each as a sentence naming the constraints (empty = feasible).

    Checks cap mass vs invested share, per-tier cap mass vs tier minimum, tier minimums/maximums vs invested,
    and min_assets vs the eligible count. Turnover is checked separately (`min_turnover_needed`).
    """
    out: list[str] = []
    n = len(c.caps)
    if n == 0:
        return ["no eligible assets"]
    if c.min_assets > n:
        out.append(f"min_assets {c.min_assets} > {n} eligible")
    caps = c.effective_caps()
    cap_values = sorted({round(v, 6) for v in c.caps.values()})
    why = f"max_weight {cap_values[0]:.2%}" if len(cap_values) == 1 else "their caps"
    if c.min_assets > 1 and any(caps[s] < c.caps[s] - TOL for s in caps):
        why += f" (≤ {c.invested / min(c.min_assets, n):.2%} for min_assets {c.min_assets})"
    if sum(caps.values()) < c.invested - TOL:
        out.append(f"{n} assets × {why} = {sum(caps.values()):.2%} < {c.invested:.2%} required")
    reachable = 0.0
    for tier, (lo, hi) in sorted(c.tier_bounds.items()):
        if lo > hi + TOL:
            out.append(f"tier {tier}: minimum {lo:.2%} > maximum {hi:.2%}")
        members = c.members(tier)
        mass = sum(caps[s] for s in members)
        if lo > mass + TOL:
            out.append(f"tier {tier}: {len(members)} assets × {why} = {mass:.2%} < {lo:.2%} required by the tier minimum")
        reachable += min(hi, mass)
    if c.tier_bounds:
        untiered = [s for s in c.caps if c.tier_of.get(s) not in c.tier_bounds]
        reachable += sum(caps[s] for s in untiered)
        lows = sum(lo for lo, _ in c.tier_bounds.values())
        if lows > c.invested + TOL:
            out.append(f"tier minimums sum to {lows:.2%} > {c.invested:.2%} invested")
        if reachable < c.invested - TOL and sum(caps.values()) >= c.invested - TOL:
            out.append(f"tier maximums and caps allow at most {reachable:.2%} < {c.invested:.2%} required")
    return out


def repair(c: PortfolioConstraints, policy: str, headroom: float) -> tuple[PortfolioConstraints, list[str]]:
    """The documented fallback for conflicting constraints; returns the repaired set and what was changed.

    min_assets above the eligible count → the requirement is dropped (forcing it would pin equal weights). Under `relax_cap` a tier (or the whole universe) whose
    caps cannot carry its minimum gets caps of (1 + headroom) × required / n (the smallest feasible + headroom);
    under `cash` the tier minimum and the invested share drop to what the caps can carry, the rest stays cash.
    Tier minimums summing above `invested` are scaled down pro rata.
    """
    notes: list[str] = []
    n = len(c.caps)
    if n == 0:
        return c, notes
    if c.min_assets > n:
        notes.append(f"min_assets {c.min_assets} dropped: only {n} eligible, all of them are candidates")
        c = replace(c, min_assets=1)
    lows = sum(lo for lo, _ in c.tier_bounds.values())
    if lows > c.invested + TOL:
        scale = c.invested / lows
        c = replace(c, tier_bounds={t: (lo * scale, max(hi, lo * scale)) for t, (lo, hi) in c.tier_bounds.items()})
        notes.append(f"tier minimums scaled by {scale:.4f} to fit {c.invested:.2%} invested")
    caps, bounds, invested = dict(c.caps), dict(c.tier_bounds), c.invested
    eff = c.effective_caps()
    for tier, (lo, hi) in sorted(c.tier_bounds.items()):
        members = c.members(tier)
        mass = sum(eff[s] for s in members)
        if members and lo > mass + TOL:
            if policy == "relax_cap":
                new = min(1.0, lo / len(members) * (1 + headroom))
                caps.update({s: max(caps[s], new) for s in members})
                notes.append(f"tier {tier}: caps relaxed to {new:.4%} to reach its minimum {lo:.2%}")
            else:
                bounds[tier] = (mass, max(hi, mass))
                notes.append(f"tier {tier}: minimum cut from {lo:.2%} to {mass:.2%}; the rest stays in cash")
    c = replace(c, caps=caps, tier_bounds=bounds)
    eff = c.effective_caps()
    carry = sum(eff.values())
    if bounds:
        carry = sum(min(hi, sum(eff[s] for s in c.members(t))) for t, (_, hi) in bounds.items()) + sum(
            eff[s] for s in c.caps if c.tier_of.get(s) not in bounds
        )
    if carry < invested - TOL:
        if policy == "relax_cap" and sum(eff.values()) < invested - TOL:
            new_cap = min(1.0, invested / n * (1 + headroom))
            c = replace(c, caps={s: max(v, new_cap) for s, v in c.caps.items()})
            notes.append(f"all caps relaxed to at least {new_cap:.4%} to invest {invested:.2%}")
        elif policy == "relax_cap":
            scale = invested / carry
            c = replace(c, tier_bounds={t: (lo, min(invested, hi * scale * (1 + headroom))) for t, (lo, hi) in bounds.items()})
            notes.append(f"tier maximums raised by {scale * (1 + headroom):.4f}× to invest {invested:.2%}")
        else:
            c = replace(c, invested=carry)
            notes.append(f"invested share cut from {invested:.2%} to {carry:.2%}; the rest stays in cash")
    return c, notes
