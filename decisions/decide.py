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
from decisions.actions import BANDS, Action
from decisions.explore import exploration_chances
from decisions.patterns import likely_violation
from decisions.policy import Policy, draw
from decisions.rules import strongest
from decisions.situation import Situation, situation
from features.online import entity_keys, history_counts
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


@dataclass(frozen=True)
class PolicyInForce:
    version: int
    policy: Policy
    secret: bytes


def evaluate(
    scorer: Scorer,
    rules: PolicyInForce,
    entries: list[Entry],
    rows: list[dict[str, Any]],
    keys: dict[str, list[str | None]],
    seen: list[bool],
    known: Situation,
    requests: list[tuple[int, str]],
    top: int,
    decided_at: datetime,
    full: bool = True,
) -> list[store.DecisionRecord]:
    """The decisions of entries (with `rows`, their fields and derived columns, and their accounts'
    `keys`) given the store's situation; `seen` marks entries already counted in the profiles, `requests` the
    request each came in (its place among the requests decided together, and its id). Reads and writes nothing.
    Unless `full`, the records are for reading only, as a file of decisions without contributions reads them:
    they leave out the entry as sent, its digest and every feature's contribution, which only a stored or
    answered decision holds."""
    ref, policy = scorer.ref, rules.policy
    order = [n for n, _ in requests]
    counts = history_counts(keys, [e.filed_at for e in entries], known.known, seen, order)
    batch = scorer.score(scorer.features.batch(rows, counts), top)
    gaps, chances = exploration_chances(policy, np.array([s.score for s in batch]), counts, list(keys), known.gaps)
    records = []
    for entry, row, scored, gap, chance, (_, request_id) in zip(entries, rows, batch, gaps, chances, requests):
        stratum = getattr(entry, policy.exploration.by) if policy.exploration.by else None
        hits = []
        if policy.rules:
            values = row | dict(zip(scored.features, scored.values))
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
        # built once, and for a released entry only when kept: the likely violation of a release is never named
        explained = scored.contributions if full or outcome.lane is not Action.RELEASE else []
        rule_reasons = [
            {"feature": f"rule:{r.name}", "value": None, "contribution": 0.0, "effect": "rule", "sentence": r.reason}
            for r in hits
        ]
        records.append(
            store.DecisionRecord(
                entry_id=entry.entry_id,
                model_name=ref.name,
                model_version=ref.version,
                model_alias=ref.alias,
                decided_at=decided_at,
                request_id=request_id,
                entry=entry.as_sent() if full else {},
                entry_digest=digest({k: row[k] for k in Entry.model_fields}) if full else "",
                importer_id=entry.importer_id,
                manufacturer_id=entry.manufacturer_id,
                shipper_id=entry.shipper_id,
                seller_id=entry.seller_id,
                port_of_entry=entry.port_of_entry,
                likely_violation=likely_violation(explained, outcome.lane),
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
                contributions=explained if full else [],
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


@dataclass(frozen=True)
class Decided:
    """A batch's decisions in request order, the ids decided before (replayed), and what recording the new
    decisions takes (`record`'s arguments)."""

    decisions: list[store.DecisionRecord]
    replayed: set[str]
    new: list[store.DecisionRecord]
    keys: dict[str, list[str | None]]
    seen: list[bool]


def prepare(
    session: Session,
    scorer: Scorer,
    rules: PolicyInForce,
    entries: list[Entry],
    request_id: str,
    top: int,
    full: bool = True,
) -> Decided:
    """Decide the entries from what the store holds now, writing nothing: `record` the new decisions after
    (only `full` ones: see `evaluate`)."""
    decided = prepare_many(session, scorer, rules, [(entries, request_id)], top, full)[0]
    if isinstance(decided, ValueError):
        raise decided
    return decided


def prepare_many(
    session: Session,
    scorer: Scorer,
    rules: PolicyInForce,
    requests: list[tuple[list[Entry], str]],
    top: int,
    full: bool = True,
) -> list[Decided | ValueError]:
    """Decide the entries of several requests (entries, request id) together, from what the store holds now and
    writing nothing, as the requests would be decided one after another (a later request's entries count an
    earlier one's in their accounts' history, as the recorded profiles would): each request's Decided, or why it
    is refused (DuplicateEntry, EntryConflict) without holding up the others. No entry id may be in two of the
    requests."""
    ids = [[e.entry_id for e in entries] for entries, _ in requests]
    refused: dict[int, ValueError] = {}
    for n, mine in enumerate(ids):
        if len(set(mine)) < len(mine):
            refused[n] = DuplicateEntry(next(i for i in mine if mine.count(i) > 1))
    ref = scorer.ref
    wanted = [i for n, mine in enumerate(ids) if n not in refused for i in mine]
    seen_ids, existing = store.prior_decisions(session, wanted, ref.name, ref.version)
    for n, (entries, _) in enumerate(requests):
        conflict = None if n in refused else _conflicting(existing, entries)
        if conflict is not None:
            refused[n] = EntryConflict(conflict)
    new = [(e, (n, rid)) for n, (entries, rid) in enumerate(requests) if n not in refused for e in entries]
    new = [(e, request) for e, request in new if e.entry_id not in existing]
    made: list[store.DecisionRecord] = []
    keys: dict[str, list[str | None]] = {}
    seen: list[bool] = []
    if new:
        entries = [e for e, _ in new]
        rows = scorer.features.rows([e.model_dump(mode="json") for e in entries])
        seen = [e.entry_id in seen_ids for e in entries]
        keys = entity_keys(scorer.pipeline.spec, rows)
        known = situation(session, rules.policy, entries, keys)
        made = evaluate(
            scorer,
            rules,
            entries,
            rows,
            keys,
            seen,
            known,
            [request for _, request in new],
            top,
            datetime.now(UTC),
            full,
        )
    at = {r.entry_id: j for j, r in enumerate(made)}  # each new decision's place in made, keys and seen
    out: list[Decided | ValueError] = []
    for n, mine in enumerate(ids):
        if n in refused:
            out.append(refused[n])
            continue
        fresh = [at[i] for i in mine if i in at]
        out.append(
            Decided(
                [made[at[i]] if i in at else store.as_record(existing[i]) for i in mine],
                {i for i in mine if i in existing},
                [made[j] for j in fresh],
                {name: [column[j] for j in fresh] for name, column in keys.items()},
                [seen[j] for j in fresh],
            )
        )
    return out


def record_all(session: Session, batches: list[Decided]) -> None:
    """Record the new decisions of several batches at once: one statement per table for all of them."""
    names = list(dict.fromkeys(name for b in batches for name in b.keys))  # a reload may change the accounts
    keys = {name: [k for b in batches for k in b.keys.get(name, [None] * len(b.new))] for name in names}
    record(session, [r for b in batches for r in b.new], keys, [s for b in batches for s in b.seen])


def decide(
    session: Session,
    scorer: Scorer,
    rules: PolicyInForce,
    entries: list[Entry],
    request_id: str,
    top: int,
    save: bool = True,
    full: bool = True,
) -> tuple[list[store.DecisionRecord], set[str]]:
    """Decisions for the entries in order, and the ids that were decided before (replayed);
    recorded unless `save` is false (a dry run: the same decisions, nothing written, and unless `full` only
    what a file of decisions reads: see `evaluate`)."""
    decided = prepare(session, scorer, rules, entries, request_id, top, full or save)
    if save and decided.new:
        record(session, decided.new, decided.keys, decided.seen)
    return decided.decisions, decided.replayed
