"""A reviewer's reading of a decision and the waiver of its action: one code path for the API and the desk."""

from __future__ import annotations

from sqlalchemy.orm import Session

from decisions import store
from decisions.inputs import WaiverIn


class NoSuchDecision(LookupError):
    def __init__(self, entry_id: str, model_version: int | None, doing: str = "") -> None:
        which = f" by model version {model_version}" if model_version is not None else ""
        super().__init__(f"no decision on entry {entry_id}{which}{doing}")


def decision_of(
    session: Session, entry_id: str, model_version: int | None = None, doing: str = ""
) -> tuple[store.Decision, list[store.Decision]]:
    """The latest decision on an entry (or `model_version`'s), and the entry's other decisions, newest first."""
    found = store.decisions_of_entry(session, entry_id)
    chosen = [d for d in found if model_version is None or d.model_version == model_version]
    if not chosen:
        raise NoSuchDecision(entry_id, model_version, doing)
    return chosen[0], [d for d in found if d is not chosen[0]]


def waive(
    session: Session, entry_id: str, body: WaiverIn, key_name: str, model_version: int | None = None
) -> tuple[store.Waiver, store.Decision]:
    """Override the action of the latest decision on an entry (or of `model_version`'s) with a reason; the
    decision stays as it was decided. Adds and flushes; the caller commits."""
    decision, _ = decision_of(session, entry_id, model_version, " to waive")
    return store.add_waiver(session, decision, body.action.value, body.reason, body.by, key_name), decision
