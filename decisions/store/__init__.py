"""SQLAlchemy tables and queries, one module per family of tables: decisions with their waivers and outcomes,
account-history profiles, policies, watchlists, alias moves, API keys and desk sessions; engines in `engine`.
Functions add and flush; the caller owns the transaction. The schema changes only through a migration
(decisions/migrations). Every name is re-exported here, so that callers write `store.add_decisions`."""

# tables of their own modules, imported here so that the metadata (and migrations) know every table
from decisions.store import sessions as sessions  # noqa: E402, I001
from decisions.store import accounts as accounts
from decisions.store import rollups as rollups
from decisions.store.aliases import AliasMove, alias_history, record_alias_move
from decisions.store.base import Base, Json, UtcDateTime
from decisions.store.decisions import (
    QUEUE_FILTERS,
    Decision,
    DecisionRecord,
    Outcome,
    Waiver,
    add_decisions,
    add_outcome,
    add_waiver,
    as_record,
    decisions_of_entry,
    decisions_with_outcomes,
    outcome_of,
    prior_decisions,
    recent_gap,
    recent_values,
    waivers_of,
)
from decisions.store.engine import SQLITE_BUSY_SECONDS, WRITES, make_engine, ping
from decisions.store.keys import ApiKey, add_api_key, api_key_by_hash, api_key_named, api_keys, live_admins
from decisions.store.policies import (
    PolicyVersion,
    active_policy,
    add_policy,
    ensure_policy,
    policy_document,
    policy_in_force,
)
from decisions.store.profiles import (
    Profile,
    add_entries,
    add_inspection,
    profile_counts,
    profile_total,
    replace_profiles,
)
from decisions.store.watchlists import WatchlistEntry, remove_watchlisted, set_watchlisted, watchlisted

__all__ = [
    "accounts",
    "rollups",
    "SQLITE_BUSY_SECONDS",
    "QUEUE_FILTERS",
    "WRITES",
    "AliasMove",
    "ApiKey",
    "Base",
    "Decision",
    "DecisionRecord",
    "Json",
    "Outcome",
    "PolicyVersion",
    "Profile",
    "UtcDateTime",
    "Waiver",
    "WatchlistEntry",
    "active_policy",
    "policy_document",
    "policy_in_force",
    "add_api_key",
    "add_decisions",
    "add_entries",
    "add_inspection",
    "add_outcome",
    "add_policy",
    "add_waiver",
    "alias_history",
    "api_key_by_hash",
    "api_key_named",
    "api_keys",
    "as_record",
    "decisions_of_entry",
    "decisions_with_outcomes",
    "ensure_policy",
    "live_admins",
    "make_engine",
    "outcome_of",
    "ping",
    "prior_decisions",
    "profile_counts",
    "profile_total",
    "record_alias_move",
    "recent_gap",
    "recent_values",
    "remove_watchlisted",
    "replace_profiles",
    "sessions",
    "set_watchlisted",
    "waivers_of",
    "watchlisted",
]
