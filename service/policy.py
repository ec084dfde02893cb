"""From a calibrated score to a risk band and an intervention."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, model_validator


class Action(StrEnum):
    RELEASE = "release"
    DOCUMENT_REVIEW = "document_review"
    NON_INTRUSIVE_EXAM = "non_intrusive_exam"
    PHYSICAL_EXAM = "physical_exam"


BANDS = {
    Action.RELEASE: "low",
    Action.DOCUMENT_REVIEW: "elevated",
    Action.NON_INTRUSIVE_EXAM: "high",
    Action.PHYSICAL_EXAM: "very_high",
}


class Objective(StrEnum):
    PROBABILITY = "probability"  # rank by the calibrated probability of a violation
    EXPECTED_REVENUE = "expected_revenue"  # rank by probability x revenue at stake (USD)


class Thresholds(BaseModel):
    """Values of the ranking objective from which each action starts."""

    document_review: float = Field(gt=0)
    non_intrusive_exam: float = Field(gt=0)
    physical_exam: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.document_review <= self.non_intrusive_exam <= self.physical_exam:
            raise ValueError("policy thresholds must rise: document_review <= non_intrusive_exam <= physical_exam")
        return self

    def action(self, value: float) -> Action:
        if value >= self.physical_exam:
            return Action.PHYSICAL_EXAM
        if value >= self.non_intrusive_exam:
            return Action.NON_INTRUSIVE_EXAM
        if value >= self.document_review:
            return Action.DOCUMENT_REVIEW
        return Action.RELEASE


class ProbabilityThresholds(Thresholds):
    document_review: float = Field(0.05, gt=0, lt=1)
    non_intrusive_exam: float = Field(0.15, gt=0, lt=1)
    physical_exam: float = Field(0.40, gt=0, lt=1)


class RevenueThresholds(Thresholds):
    """In USD of expected revenue at stake."""

    document_review: float = Field(50.0, gt=0)
    non_intrusive_exam: float = Field(500.0, gt=0)
    physical_exam: float = Field(5000.0, gt=0)


class Policy(BaseModel):
    """The ranking objective and its thresholds: probabilities, or expected revenue at stake in USD."""

    objective: Objective = Objective.PROBABILITY
    probability: ProbabilityThresholds = ProbabilityThresholds()
    expected_revenue: RevenueThresholds = RevenueThresholds()

    def decide(self, score: float, expected_revenue: float | None) -> tuple[Action, Objective]:
        """The action, and the objective that chose it (probability when the model has no revenue estimate)."""
        if self.objective is Objective.EXPECTED_REVENUE and expected_revenue is not None:
            return self.expected_revenue.action(expected_revenue), Objective.EXPECTED_REVENUE
        return self.probability.action(score), Objective.PROBABILITY
