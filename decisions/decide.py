"""Score entries and record every decision: idempotent by entry id and model version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from decisions import store
from decisions.actions import BANDS
from decisions.explore import knowledge_gap, pick_probabilities
from decisions.patterns import likely_violation
from decisions.policy import Objective, Policy, Thresholds, draw
from decisions.rules import WATCHLISTS, strongest
from features.online import Counts, entity_keys, history_counts
from features.schema import Entry
from model.scoring import ModelRef, Scorer


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


def digest(entry: dict[str, Any]) -> str:
    """The entry's fingerprint (of its JSON fields), to tell a repeat from a different entry under the same id."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


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


@dataclass(frozen=True)
class Situation:
    """What the store says that a batch's decisions depend on, read once per batch."""

    known: dict[str, Counts]  # profiles of the batch's accounts
    lanes: Thresholds | None  # capacity thresholds, when the policy sets lanes that way
    listed: set[tuple[str, str]]  # watchlist hits among the batch's accounts
    gaps: tuple[int, float]  # recent decisions with a knowledge gap and their mean, with an exploration budget


def situation(session: Session, policy: Policy, entries: list[Entry], keys: dict[str, list[str | None]]) -> Situation:
    """The store's view of a batch whose accounts have `keys` (from `entity_keys`)."""
    wanted = {name: [k for k in column if k is not None] for name, column in keys.items()}
    gaps = store.recent_gap(session, policy.capacity.window) if policy.exploration.budget > 0 else (0, 0.0)
    return Situation(
        store.profile_counts(session, wanted),
        _capacity_lanes(session, policy),
        _listed(session, policy, entries),
        gaps,
    )


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


def evaluate(
    scorer: Scorer,
    rules: PolicyInForce,
    entries: list[Entry],
    rows: list[dict[str, Any]],
    keys: dict[str, list[str | None]],
    seen: list[bool],
    known: Situation,
    request_id: str,
    top: int,
    decided_at: datetime,
) -> list[store.DecisionRecord]:
    """The decisions of entries (with `rows`, their fields and derived columns, and their accounts'
    `keys`) given the store's situation; `seen` marks entries already counted in the profiles. Reads and
    writes nothing."""
    ref, policy = scorer.ref, rules.policy
    counts = history_counts(keys, [e.filed_at for e in entries], known.known, seen)
    batch = scorer.score(scorer.features.batch(rows, counts), top)
    gaps, chances = exploration_chances(policy, np.array([s.score for s in batch]), counts, list(keys), known.gaps)
    records = []
    for entry, row, scored, gap, chance in zip(entries, rows, batch, gaps, chances):
        stratum = getattr(entry, policy.exploration.by) if policy.exploration.by else None
        values = row | {c["feature"]: c["value"] for c in scored.contributions}
        hits = [r for r in policy.rules if r.holds(values, known.listed)]
        outcome = policy.decide(
            scored.score,
            scored.expected_revenue,
            stratum,
            draw(rules.secret, entry.entry_id),
            known.lanes,
            strongest(hits),
            float(chance),
            draw(rules.secret, f"explore:{entry.entry_id}"),
        )
        rule_reasons = [
            {"feature": f"rule:{r.name}", "value": None, "contribution": 0.0, "effect": "rule", "sentence": r.reason}
            for r in hits
        ]
        fields = {k: row[k] for k in Entry.model_fields}
        records.append(
            store.DecisionRecord(
                entry_id=entry.entry_id,
                model_name=ref.name,
                model_version=ref.version,
                model_alias=ref.alias,
                decided_at=decided_at,
                request_id=request_id,
                entry=entry.as_sent(),
                entry_digest=digest(fields),
                importer_id=entry.importer_id,
                manufacturer_id=entry.manufacturer_id,
                shipper_id=entry.shipper_id,
                seller_id=entry.seller_id,
                port_of_entry=entry.port_of_entry,
                likely_violation=likely_violation(scored.contributions, outcome.lane),
                score=scored.score,
                raw_score=scored.raw_score,
                base_value=scored.base_value,
                expected_revenue=scored.expected_revenue,
                ranking=outcome.objective.value,
                policy_version=rules.version,
                selection=outcome.selection,
                selection_probability=outcome.selection_probability,
                knowledge_gap=float(gap),
                risk_band=BANDS[outcome.action],
                action=outcome.action.value,
                contributions=scored.contributions,
                reasons=rule_reasons + scored.reasons,
            )
        )
    return records


def record(
    session: Session, records: list[store.DecisionRecord], keys: dict[str, list[str | None]], seen: list[bool]
) -> None:
    """Add decisions, and count each entry not counted before in its accounts' profiles and day buckets and in
    measured success's daily counts."""
    store.add_decisions(session, records)
    first = [r for r, was_seen in zip(records, seen) if not was_seen]
    store.accounts.add_account_days(session, first)
    store.rollups.add_decided_days(session, first)
    store.add_entries(
        session,
        [
            (name, k, r.score)
            for name, column in keys.items()
            for k, was_seen, r in zip(column, seen, records)
            if k is not None and not was_seen
        ],
    )


def _conflicting(existing: dict[str, store.Decision], entries: list[Entry]) -> str | None:
    """The first entry id decided before (`existing`, by this model version) with other contents."""
    for e in entries:
        if e.entry_id in existing and existing[e.entry_id].entry_digest != digest(e.model_dump(mode="json")):
            return e.entry_id
    return None


def first_conflict(session: Session, ref: ModelRef, entries: list[Entry]) -> str | None:
    """The first of `entries` that this model version decided before with other contents (decide refuses it)."""
    _, existing = store.prior_decisions(session, [e.entry_id for e in entries], ref.name, ref.version)
    return _conflicting(existing, entries)


def decide(
    session: Session,
    scorer: Scorer,
    rules: PolicyInForce,
    entries: list[Entry],
    request_id: str,
    top: int,
    save: bool = True,
) -> tuple[list[store.DecisionRecord], set[str]]:
    """Decisions for the entries in order, and the ids that were decided before (replayed);
    recorded unless `save` is false (a dry run: the same decisions, nothing written)."""
    ids = [e.entry_id for e in entries]
    if len(set(ids)) < len(ids):
        raise DuplicateEntry(next(i for i in ids if ids.count(i) > 1))
    ref = scorer.ref
    seen_ids, existing = store.prior_decisions(session, ids, ref.name, ref.version)
    conflict = _conflicting(existing, entries)
    if conflict is not None:
        raise EntryConflict(conflict)
    decided = {i: store.as_record(d) for i, d in existing.items()}
    new = [e for e in entries if e.entry_id not in existing]
    if new:
        rows = scorer.features.rows([e.model_dump(mode="json") for e in new])
        seen = [e.entry_id in seen_ids for e in new]
        keys = entity_keys(scorer.pipeline.spec, rows)
        known = situation(session, rules.policy, new, keys)
        records = evaluate(scorer, rules, new, rows, keys, seen, known, request_id, top, datetime.now(UTC))
        if save:
            record(session, records, keys, seen)
        decided |= {r.entry_id: r for r in records}
    return [decided[i] for i in ids], set(existing)
