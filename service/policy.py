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


class Policy(BaseModel):
    """Score thresholds (calibrated probability of a violation) from which each action starts."""

    document_review: float = Field(0.05, gt=0, lt=1)
    non_intrusive_exam: float = Field(0.15, gt=0, lt=1)
    physical_exam: float = Field(0.40, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        if not self.document_review <= self.non_intrusive_exam <= self.physical_exam:
            raise ValueError("policy thresholds must rise: document_review <= non_intrusive_exam <= physical_exam")
        return self

    def action(self, score: float) -> Action:
        if score >= self.physical_exam:
            return Action.PHYSICAL_EXAM
        if score >= self.non_intrusive_exam:
            return Action.NON_INTRUSIVE_EXAM
        if score >= self.document_review:
            return Action.DOCUMENT_REVIEW
        return Action.RELEASE
