"""The interventions a decision may call for, weakest first, and the risk band each stands for."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    RELEASE = "release"
    POST_RELEASE_AUDIT = "post_release_audit"  # released at once, queued for an audit after release
    DOCUMENT_REVIEW = "document_review"
    NON_INTRUSIVE_EXAM = "non_intrusive_exam"
    PHYSICAL_EXAM = "physical_exam"


BANDS = {
    Action.RELEASE: "low",
    Action.POST_RELEASE_AUDIT: "moderate",
    Action.DOCUMENT_REVIEW: "elevated",
    Action.NON_INTRUSIVE_EXAM: "high",
    Action.PHYSICAL_EXAM: "very_high",
}


ORDER = list(Action)
