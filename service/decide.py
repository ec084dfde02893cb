"""Score entries and record every decision: idempotent by entry id and model version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from features.history import HistoryProfiles, batch_counts, entity_key
from features.pipeline import entries_frame, prepare
from features.schema import Entry
from service import store
from service.policy import BANDS, WATCHLISTS, Objective, Policy, Thresholds, draw, strongest
from service.scoring import Scorer


class EntryConflict(ValueError):
    """The entry id was already decided by this model for different entry contents."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(
            f"entry {entry_id} was already scored by this model with different contents; "
            "a corrected entry needs a new entry id"
        )
        self.entry_id = entry_id


class DuplicateEntry(ValueError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"entry {entry_id} appears more than once in the batch")
        self.entry_id = entry_id


def digest(entry: Entry) -> str:
    return hashlib.sha256(json.dumps(entry.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _history(session: Session, scorer: Scorer, rows: pd.DataFrame, seen: np.ndarray) -> pd.DataFrame:
    """History counts as known now, plus earlier entries of the same batch, less the entry itself if
    it was counted when another model version scored it."""
    spec = scorer.pipeline.spec
    keys = {spec.entity_name(e): entity_key(rows, e) for e in spec.entities}
    known = store.profile_counts(session, {name: key.dropna().tolist() for name, key in keys.items()})
    counts = HistoryProfiles(spec, known).lookup(rows) + batch_counts(rows, spec)
    entries = [c for c in counts.columns if c.endswith("__entries")]
    counts.loc[seen, entries] = counts.loc[seen, entries] - 1
    return counts


def _listed(session: Session, policy: Policy, entries: list[Entry]) -> set[tuple[str, str]]:
    """The watchlist entries that the policy's rules could ask about for these entries."""
    lists = {r.watchlist for r in policy.rules if r.watchlist}
    wanted: dict[str, list[str]] = {name: [str(getattr(e, WATCHLISTS[name])) for e in entries] for name in lists}
    return store.watchlisted(session, wanted) if wanted else set()


def _capacity_lanes(session: Session, policy: Policy) -> Thresholds | None:
    """Thresholds from capacity over the recent decisions (persisted, so a restart remembers them); None
    while the window is too short, or for fixed lanes, so that the fixed thresholds apply."""
    if policy.lanes != "capacity":
        return None
    column = "expected_revenue" if policy.objective is Objective.EXPECTED_REVENUE else "score"
    recent = store.recent_values(session, column, policy.capacity.window)
    return policy.capacity.thresholds(recent) if len(recent) >= policy.capacity.min_entries else None


@dataclass(frozen=True)
class PolicyInForce:
    version: int
    policy: Policy
    secret: bytes


def decide(
    session: Session, scorer: Scorer, rules: PolicyInForce, entries: list[Entry], request_id: str, top: int
) -> tuple[list[store.Decision], set[str]]:
    """Decisions for the entries in order, and the ids that were decided before (replayed)."""
    ids = [e.entry_id for e in entries]
    if len(set(ids)) < len(ids):
        raise DuplicateEntry(next(i for i in ids if ids.count(i) > 1))
    ref = scorer.ref
    existing = store.decisions_for(session, ids, ref.name, ref.version)
    for entry in entries:
        if entry.entry_id in existing and existing[entry.entry_id].entry_digest != digest(entry):
            raise EntryConflict(entry.entry_id)
    new = [e for e in entries if e.entry_id not in existing]
    if new:
        rows = prepare(entries_frame(new), scorer.pipeline.spec)
        seen_ids = store.entries_seen(session, [e.entry_id for e in new])
        seen = np.array([e.entry_id in seen_ids for e in new])
        counts = _history(session, scorer, rows, seen)
        now = datetime.now(UTC)
        records = []
        policy = rules.policy
        lanes = _capacity_lanes(session, policy)
        listed = _listed(session, policy, new)
        for entry, scored in zip(new, scorer.score(rows, counts, top)):
            stratum = getattr(entry, policy.exploration.by) if policy.exploration.by else None
            u = draw(rules.secret, entry.entry_id)
            values = entry.model_dump(mode="json") | {c["feature"]: c["value"] for c in scored.contributions}
            hits = [r for r in policy.rules if r.holds(values, listed)]
            outcome = policy.decide(scored.score, scored.expected_revenue, stratum, u, lanes, strongest(hits))
            rule_reasons = [{"feature": f"rule:{r.name}", "value": None, "contribution": 0.0, "effect": "rule",
                             "sentence": r.reason} for r in hits]  # fmt: skip
            action = outcome.action
            records.append(
                store.Decision(
                    entry_id=entry.entry_id,
                    model_name=ref.name,
                    model_version=ref.version,
                    model_alias=ref.alias,
                    decided_at=now,
                    request_id=request_id,
                    entry=entry.model_dump(mode="json"),
                    entry_digest=digest(entry),
                    score=scored.score,
                    raw_score=scored.raw_score,
                    base_value=scored.base_value,
                    expected_revenue=scored.expected_revenue,
                    ranking=outcome.objective.value,
                    policy_version=rules.version,
                    selection=outcome.selection,
                    selection_probability=outcome.selection_probability,
                    risk_band=BANDS[action],
                    action=action.value,
                    contributions=scored.contributions,
                    reasons=rule_reasons + scored.reasons,
                )
            )
        store.add_decisions(session, records)
        spec = scorer.pipeline.spec
        fresh = rows[~seen]
        store.add_entries(
            session, [(spec.entity_name(e), k) for e in spec.entities for k in entity_key(fresh, e).dropna()]
        )
        existing |= {r.entry_id: r for r in records}
    decided_now = {e.entry_id for e in new}
    return [existing[i] for i in ids], {i for i in ids if i not in decided_now}
