"""From a calibrated score to a risk band and an intervention: the targeting policy, versioned."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from decisions.actions import ORDER, Action
from decisions.rules import Rule
from features.schema import Number, Share


class Objective(StrEnum):
    PROBABILITY = "probability"  # rank by the calibrated probability of a violation
    EXPECTED_REVENUE = "expected_revenue"  # rank by probability x revenue at stake (USD)


RISING = (
    "Thresholds must rise: post_release_audit (optional) <= document_review <= non_intrusive_exam <= physical_exam."
)
AUDIT = "From here an entry is released at once and audited after release; none: no audit lane."


class Thresholds(BaseModel):
    """Values of the ranking objective from which each action starts."""

    model_config = ConfigDict(json_schema_extra={"description": RISING})
    post_release_audit: Number | None = Field(None, gt=0, description=AUDIT)
    document_review: Number = Field(gt=0)
    non_intrusive_exam: Number = Field(gt=0)
    physical_exam: Number = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        audit = self.document_review if self.post_release_audit is None else self.post_release_audit
        if not audit <= self.document_review <= self.non_intrusive_exam <= self.physical_exam:
            raise ValueError(f"policy thresholds must rise: {RISING.split(': ', 1)[1]}")
        return self

    def action(self, value: float) -> Action:
        if value >= self.physical_exam:
            return Action.PHYSICAL_EXAM
        if value >= self.non_intrusive_exam:
            return Action.NON_INTRUSIVE_EXAM
        if value >= self.document_review:
            return Action.DOCUMENT_REVIEW
        if self.post_release_audit is not None and value >= self.post_release_audit:
            return Action.POST_RELEASE_AUDIT
        return Action.RELEASE


class ProbabilityThresholds(Thresholds):
    model_config = ConfigDict(json_schema_extra={"description": f"Calibrated probabilities. {RISING}"})
    post_release_audit: Number | None = Field(None, gt=0, lt=1, description=AUDIT)
    document_review: Number = Field(0.05, gt=0, lt=1, description="From this probability: document review.")
    non_intrusive_exam: Number = Field(0.15, gt=0, lt=1, description="From this probability: non-intrusive exam.")
    physical_exam: Number = Field(0.40, gt=0, lt=1, description="From this probability: physical exam.")


class RevenueThresholds(Thresholds):
    """In USD of expected revenue at stake."""

    model_config = ConfigDict(json_schema_extra={"description": f"USD of expected revenue at stake. {RISING}"})
    document_review: Number = Field(50.0, gt=0, description="From this expected revenue (USD): document review.")
    non_intrusive_exam: Number = Field(500.0, gt=0, description="From this expected revenue: non-intrusive exam.")
    physical_exam: Number = Field(5000.0, gt=0, description="From this expected revenue: physical exam.")


class Capacity(BaseModel):
    """Lanes set by inspection capacity: the share of entries each intervention may take, the highest-ranked
    first; thresholds follow from the recent distribution of the ranking objective."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"description": "Shares of all entries, adding up to at most 1, the highest-ranked first."},
    )
    physical_exam: Number = Field(0.01, ge=0, le=1, description="Share of entries sent to physical exam.")
    non_intrusive_exam: Number = Field(0.03, ge=0, le=1, description="Share sent to non-intrusive exam.")
    document_review: Number = Field(0.05, ge=0, le=1, description="Share sent to document review.")
    post_release_audit: Number = Field(0.0, ge=0, le=1, description="Released now, audited later; 0: no audit lane.")
    window: int = Field(10_000, ge=100, description="How many recent decisions make the distribution.")
    min_entries: int = Field(500, ge=10, description="Below this, the fixed thresholds apply.")

    @model_validator(mode="after")
    def _total(self) -> Capacity:
        if self.physical_exam + self.non_intrusive_exam + self.document_review + self.post_release_audit > 1:
            raise ValueError("lane capacities add up to more than all entries")
        return self

    def thresholds(self, recent: np.ndarray) -> Thresholds:
        """Thresholds that give each lane its share of `recent` values (ties may take a little more)."""
        shares = np.cumsum([self.physical_exam, self.non_intrusive_exam, self.document_review, self.post_release_audit])
        top = np.quantile(recent, np.clip(1 - shares, 0, 1))
        tiny = np.nextafter(0, 1)
        physical, nii, review, audit = (max(float(v), tiny) for v in top)
        review = min(review, nii)
        return Thresholds(
            post_release_audit=min(audit, review) if self.post_release_audit > 0 else None,
            document_review=review,
            non_intrusive_exam=min(nii, physical),
            physical_exam=physical,
        )


class Tuning(BaseModel):
    """The exploration budget tuned between bounds by exponential weights on the revenue per inspection that the
    model's picks and the exploration picks reveal (decisions/explore.py `ShareTuner`): `targeting policy tune`
    takes one step and writes the next policy version."""

    model_config = ConfigDict(extra="forbid")
    min_budget: Share = Field(0.0005, description="The least share of entries picked by the budget.")
    max_budget: Share = Field(0.015, description="The most.")
    rate: Number = Field(0.5, gt=0, le=10, description="How far one period's rewards move the budget.")
    weights: tuple[float, float] = Field((0.0, 0.0), description="The arms' log-weights, exploit and explore.")

    @model_validator(mode="after")
    def _bounds(self) -> Tuning:
        if self.min_budget > self.max_budget:
            raise ValueError("tuning's min_budget must not exceed its max_budget")
        return self


class Exploration(BaseModel):
    """The random compliance sample, entries inspected whatever their score (the only unbiased labels), and the
    exploration budget, entries picked where the model knows least (decisions/explore.py)."""

    model_config = ConfigDict(extra="forbid")
    rate: Number = Field(0.005, ge=0, le=1, description="Share of entries drawn at random.")
    by: Literal["entry_type", "port_of_entry"] | None = Field("entry_type", description="Stratum column.")
    rates: dict[str, Share] = Field({}, description="Rates for particular strata, e.g. {'86': 0.001}.")
    action: Action = Field(Action.PHYSICAL_EXAM, description="What a random or explorative pick gets.")
    budget: Share = Field(
        0.0, description="Share of entries picked by their knowledge gap, beside the random sample; 0: none."
    )
    tuning: Tuning | None = Field(None, description="Bounds for `targeting policy tune`; null: a fixed budget.")

    def rate_for(self, stratum: str | None) -> float:
        return self.rates.get(stratum, self.rate) if stratum is not None else self.rate


def draw(secret: bytes, entry_id: str) -> float:
    """A uniform number in [0, 1) fixed by the entry id, unpredictable without the secret."""
    digest = hmac.new(secret, entry_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Outcome:
    action: Action
    objective: Objective
    selection: str | None  # "model", "rule", "random", "explore" or None (released)
    selection_probability: float  # the chance this policy inspects the entry: 1 when the model picks it
    lane: Action  # the action the ranking objective alone gives, before rules and the random sample


class Policy(BaseModel):
    """The ranking objective and its thresholds (probabilities, or expected revenue at stake in USD), and
    the random compliance sample."""

    model_config = ConfigDict(extra="forbid")
    objective: Objective = Field(
        Objective.PROBABILITY, description="Rank by the probability of a violation, or by the expected revenue."
    )
    probability: ProbabilityThresholds = ProbabilityThresholds()
    expected_revenue: RevenueThresholds = RevenueThresholds()
    exploration: Exploration = Exploration()
    lanes: Literal["fixed", "capacity"] = Field("fixed", description="Fixed thresholds, or thresholds from capacity.")
    rules: list[Rule] = Field([], description="Hard rules; a hit sets a minimum lane whatever the score.")
    capacity: Capacity = Capacity()

    def decide(
        self,
        score: float,
        expected_revenue: float | None,
        stratum: str | None = None,
        u: float = 1.0,
        lanes: Thresholds | None = None,
        floor: Action = Action.RELEASE,
        explore: float = 0.0,
        v: float = 1.0,
    ) -> Outcome:
        """The action for a score; `u` is the entry's random draw (see `draw`) for the compliance sample,
        `lanes` the thresholds derived from capacity when the policy sets lanes that way.

        `floor` is the strongest action the entry's rule hits demand. Ranks by probability when the model
        has no revenue estimate; a random pick is marked as such even when the model would have inspected
        the entry anyway, so the sample stays unbiased. `explore` is the entry's chance of an exploration
        pick (decisions/explore.py) and `v` its own draw for it: only an entry the model would release is
        picked so. An entry the model releases is inspected with probability 1 - (1 - rate)(1 - explore),
        whichever draw picks it: that is the probability recorded for it."""
        if self.objective is Objective.EXPECTED_REVENUE and expected_revenue is not None:
            objective, value = Objective.EXPECTED_REVENUE, expected_revenue
            action = (lanes or self.expected_revenue).action(value)
        else:
            objective = Objective.PROBABILITY
            action = (
                lanes if lanes is not None and self.objective is Objective.PROBABILITY else self.probability
            ).action(score)
        lane = action
        by_rule = ORDER.index(floor) > ORDER.index(action)
        action = max(action, floor, key=ORDER.index)
        rate = self.exploration.rate_for(stratum)
        chance = rate + explore - rate * explore  # 1 - (1 - rate)(1 - explore), exactly `rate` without a budget
        if u < rate:
            stronger = max(action, self.exploration.action, key=ORDER.index)
            return Outcome(stronger, objective, "random", 1.0 if action is not Action.RELEASE else chance, lane)
        if action is not Action.RELEASE:
            return Outcome(action, objective, "rule" if by_rule else "model", 1.0, lane)
        if v < explore:
            return Outcome(self.exploration.action, objective, "explore", chance, lane)
        return Outcome(action, objective, None, chance, lane)
