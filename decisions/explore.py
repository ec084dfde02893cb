"""Exploration beside the random sample: picks that favour what the model knows least, each with its exact
selection probability, and a share of inspections that tunes itself between exploiting the model and exploring.

A model learns only from what was inspected, so left alone it stops seeing what it does not look for. The
uniform random sample stays the unbiased yardstick; the exploration budget spends inspections where a label
teaches most. An entry's **knowledge gap** is the largest, over its accounts (importer, manufacturer, shipper,
seller, and the heading+origin category), of the standard deviation of the account's violation rate: a beta
posterior whose prior is the entry's calibrated score worth `PRIOR_STRENGTH` inspections, as an account's risk
level is (decisions/accounts.py), updated by the account's inspections and violations. It is wide for a new or
rarely inspected account whose entries the model does not rule out, narrow for one inspected often or scored
near zero.

An entry is picked with probability `min(1, budget * gap / mean_gap)` (Poisson sampling: each entry on its
own draw, independent of the random sample's), `mean_gap` being that of recent entries, so that about `budget`
of all entries are picked and each pick's probability is known exactly: inverse-probability weighting stays
exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from decisions.policy import Policy
from features.pipeline import PRIOR_STRENGTH

SPAN = 8.0  # the most one arm's log-weight trails the other's: the share then sits within 0.04 % of a bound


def knowledge_gap(score: np.ndarray, inspections: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """Per entry (rows of the (entries, accounts) count matrices), the widest posterior standard deviation of
    its accounts' violation rates; an account that is missing (NaN) is left out, an entry without any gets
    its prior's."""
    p = np.clip(np.asarray(score, dtype=float), 1e-6, 1 - 1e-6)[:, None]
    seen = np.nan_to_num(np.asarray(inspections, dtype=float).reshape(len(p), -1))
    bad = np.minimum(np.nan_to_num(np.asarray(violations, dtype=float).reshape(len(p), -1)), seen)
    a = PRIOR_STRENGTH * p + bad
    b = PRIOR_STRENGTH * (1 - p) + seen - bad
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    missing = np.isnan(np.asarray(inspections, dtype=float).reshape(len(p), -1))
    prior = np.sqrt(p[:, 0] * (1 - p[:, 0]) / (PRIOR_STRENGTH + 1))
    widest = np.where(missing, -np.inf, sd).max(axis=1, initial=-np.inf)
    return np.where(np.isfinite(widest), widest, prior)


def pick_probabilities(gap: np.ndarray, budget: float, mean_gap: float) -> np.ndarray:
    """Each entry's chance of an exploration pick: in proportion to its gap, `budget` of entries on average
    (a little less where the cap at 1 binds)."""
    if budget <= 0 or not mean_gap > 0:
        return np.zeros(len(gap))
    return np.clip(budget * np.asarray(gap, dtype=float) / mean_gap, 0.0, 1.0)


@dataclass
class ShareTuner:
    """Exponential weights on two arms, exploiting the model and exploring, each rewarded by the revenue per
    inspection its picks revealed in a period; the exploration share of inspections moves between `low` and
    `high` with the explore arm's weight.

    Rewards are scaled by the larger of the two, so the update is free of currency; a period where an arm
    revealed nothing leaves its weight alone. The two log-weights stay within `SPAN` of each other, so that a
    long streak is not owed back before the share can move again: the traffic drifts, and the tuner follows."""

    low: float
    high: float
    rate: float = 0.5  # the learning rate: how far one period's rewards move the weights
    log_weights: list[float] = field(default_factory=lambda: [0.0, 0.0])  # exploit, explore

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"the share's bounds must satisfy 0 <= low <= high <= 1, not {self.low}, {self.high}")

    @property
    def share(self) -> float:
        """The exploration share of inspections now."""
        exploit, explore = self.log_weights
        weight = 1.0 / (1.0 + math.exp(max(-700.0, min(700.0, exploit - explore))))
        return self.low + (self.high - self.low) * weight

    def update(self, exploit: float | None, explore: float | None) -> float:
        """Take one period's revenue per inspection of each arm (None: nothing revealed); the new share."""
        rewards = [r if r is not None and math.isfinite(r) and r >= 0 else None for r in (exploit, explore)]
        scale = max((r for r in rewards if r is not None), default=0.0)
        if scale > 0:
            for arm, reward in enumerate(rewards):
                if reward is not None:
                    self.log_weights[arm] += self.rate * reward / scale
            top = max(self.log_weights)
            self.log_weights = [max(w - top, -SPAN) for w in self.log_weights]
        return self.share


def tune(policy: Policy, exploit: float | None, explore: float | None) -> Policy:
    """The policy with its exploration budget moved one step between its tuning bounds, given the revenue per
    inspection that the model's picks (`exploit`) and the exploration picks revealed in a period (None: none
    revealed); the arms' weights travel in the policy, so each step starts where the last one ended."""
    tuning = policy.exploration.tuning
    if tuning is None:
        raise ValueError("the policy has no exploration.tuning: its budget is fixed")
    tuner = ShareTuner(tuning.min_budget, tuning.max_budget, tuning.rate, list(tuning.weights))
    budget = tuner.update(exploit, explore)
    weights = (tuner.log_weights[0], tuner.log_weights[1])
    exploration = policy.exploration.model_copy(
        update={"budget": budget, "tuning": tuning.model_copy(update={"weights": weights})}
    )
    return policy.model_copy(update={"exploration": exploration})


def exploration_chances(
    policy: Policy, scores: np.ndarray, counts: dict[str, np.ndarray], names: list[str], recent: tuple[int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's knowledge gap, and its chance of an exploration pick: in proportion to its gap against the
    mean gap of the recent decisions and of the batch (the batch alone while nothing is recorded)."""
    gap = knowledge_gap(
        scores,
        np.column_stack([counts[f"{name}__inspections"] for name in names]),
        np.column_stack([counts[f"{name}__violations"] for name in names]),
    )
    budget = policy.exploration.budget
    n, recent_mean = recent
    total = n + len(gap)
    mean = (n * recent_mean + float(gap.sum())) / total if budget > 0 and total else 0.0
    return gap, pick_probabilities(gap, budget, mean)
