"""What the store says that a batch's decisions depend on, read once per batch: its accounts' profiles, the
capacity lanes' thresholds, watchlist hits and the recent knowledge gaps."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from decisions import store
from decisions.policy import Objective, Policy, Thresholds
from decisions.rules import WATCHLISTS
from features.online import Counts
from features.schema import Entry


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
