"""The interventions a decision may call for, weakest first, and the risk band each stands for."""

from __future__ import annotations

from enum import StrEnum


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


ORDER = list(Action)
