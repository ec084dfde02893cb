"""Inspection outcomes: recorded once per entry, and at once in the account-history profiles."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from decisions import store
from decisions.inputs import OutcomeIn
from features.history import entity_key
from features.pipeline import entries_frame, prepare
from features.schema import CLOCK_SKEW, Entry
from model.scoring import Scorer


class NoDecision(LookupError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no decision on entry {entry_id}: only a scored entry can have an outcome")


class OutcomeConflict(ValueError):
    def __init__(self, entry_id: str, recorded_at: datetime) -> None:
        super().__init__(
            f"entry {entry_id} already has a different outcome, recorded {recorded_at.isoformat()}; "
            "an outcome is recorded once"
        )


class OutcomeInvalid(ValueError):
    """The outcome contradicts its decision (e.g. inspected before the entry was filed)."""


def _digest(body: OutcomeIn) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def record(session: Session, scorer: Scorer, body: OutcomeIn, by_key: str) -> tuple[store.Outcome, bool]:
    """Record the outcome of an inspection and count it in the entry's account profiles; an identical
    repeat answers from the record (True). Adds and flushes; the caller commits."""
    found = store.decisions_of_entry(session, body.entry_id)
    if not found:
        raise NoDecision(body.entry_id)
    digest = _digest(body)
    existing = store.outcome_of(session, body.entry_id)
    if existing is not None:
        if existing.digest != digest:
            raise OutcomeConflict(body.entry_id, existing.recorded_at)
        return existing, True
    acting = found[-1]  # the first decision on the entry is the one that sent it to inspection or released it
    entry = Entry.model_validate(acting.entry)
    now = datetime.now(UTC)
    if body.inspected_at > now + CLOCK_SKEW:
        raise OutcomeInvalid(f"inspected_at {body.inspected_at.isoformat()} is in the future")
    if body.inspected_at < entry.filed_at:
        raise OutcomeInvalid(
            f"inspected_at {body.inspected_at.isoformat()} is before the entry was filed ({entry.filed_at.isoformat()})"
        )
    violation = bool(body.violation_types)
    outcome = store.add_outcome(
        session,
        store.Outcome(
            entry_id=body.entry_id,
            decision_id=acting.id,
            inspected_at=body.inspected_at,
            violation=violation,
            violation_types=[v.value for v in body.violation_types],
            revenue_recovered=body.revenue_recovered,
            selected_by=body.selected_by.value,
            note=body.note,
            digest=digest,
            recorded_at=now,
            recorded_by_key=by_key,
            decided_at=acting.decided_at,
        ),
    )
    store.rollups.add_outcome_day(session, outcome, acting)
    spec = scorer.pipeline.spec
    rows = prepare(entries_frame([entry]), spec)
    store.add_inspection(
        session, [(spec.entity_name(e), k) for e in spec.entities for k in entity_key(rows, e).dropna()], violation
    )
    return outcome, False
