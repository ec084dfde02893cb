"""Which violation pattern an entry's explanation points to: the pattern whose signal features
(features/definitions.py, after docs/domain.md's "Violation patterns") raise its risk the most.

The model estimates one probability of any violation; it does not classify. The likely pattern is read
from the SHAP contributions, so it says what the reasons are about, not what an inspection will find.
Import safety and forced labour have no signal among the model's features, so they are never named."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decisions.actions import Action
from features.codes import Violation
from features.definitions import PRICES, SIGNALLED, SIGNALS

# a pattern is named only when its signals add at least this much log-odds: 0.5 is the odds multiplied by 1.65
MIN_EVIDENCE = 0.5
NAMEABLE: tuple[Violation, ...] = SIGNALLED

# a low price speaks for counterfeit, not undervaluation, where a brand is claimed (docs/domain.md: the signature of a
# counterfeit) and on a de minimis parcel, which owes no duty to evade
BRAND, DE_MINIMIS = "desc_brand_word", "is_de_minimis"


def evidence(contributions: Iterable[dict[str, Any]]) -> dict[Violation, float]:
    """The log-odds each nameable pattern's signals add to the score (only the signals that raise it)."""
    given = list(contributions)
    parcel = any(c["feature"] == DE_MINIMIS and c.get("input") for c in given)
    raising = [(c["feature"], c["contribution"]) for c in given if c["contribution"] > 0]
    branded = parcel or any(feature == BRAND for feature, _ in raising)
    found: dict[Violation, float] = {}
    for feature, contribution in raising:
        pattern = Violation.COUNTERFEIT if branded and feature in PRICES else SIGNALS.get(feature)
        if pattern is not None:
            found[pattern] = found.get(pattern, 0.0) + contribution
    return found


def strongest(contributions: Iterable[dict[str, Any]], minimum: float = MIN_EVIDENCE) -> tuple[Violation, float] | None:
    """The pattern whose signals add the most log-odds, and how much, if at least `minimum`."""
    found = evidence(contributions)
    best = max(found, key=lambda p: found[p], default=None)
    return (best, found[best]) if best is not None and found[best] >= minimum else None


def likely_violation(contributions: Iterable[dict[str, Any]], lane: Action) -> str | None:
    """The pattern an intervention should look for: named only for an entry whose score puts it in an
    intervention's lane (`lane`, the action its score alone earns), and only when its signals add at least
    MIN_EVIDENCE. A released entry names none: the strongest signal of a low score is noise to an officer."""
    if lane is Action.RELEASE:
        return None
    found = strongest(contributions)
    return found[0].value if found is not None else None
