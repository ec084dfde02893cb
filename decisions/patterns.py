"""Which violation pattern an entry's explanation points to: the pattern whose signal features
(docs/domain.md, "Violation patterns") raise its risk the most.

The model estimates one probability of any violation; it does not classify. The likely pattern is read
from the SHAP contributions, so it says what the reasons are about, not what an inspection will find.
Import safety and forced labour have no signal among the model's features, so they are never named."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decisions.policy import Action
from features.schema import Violation

# a pattern's signals: feature names, or prefixes of the account-history features of an entity
SIGNALS: dict[Violation, tuple[str, ...]] = {
    Violation.UNDERVALUATION: ("declared_value_usd", "unit_value", "value_per_kg", "unit_value_to_reference",
                               "round_value", "related_party"),
    Violation.MISCLASSIFICATION: ("desc_hts_mismatch", "kg_per_unit", "kg_per_unit_to_reference", "hts_chapter",
                                  "hts_heading", "quantity_unit", "quantity", "gross_weight_kg"),
    Violation.TRANSSHIPMENT: ("origin_differs_from_export", "mid_country_differs_from_origin", "country_of_origin",
                              "country_of_export", "has_adcvd_case", "adcvd_scope_without_case",
                              "hts_heading+country_of_origin_"),
    Violation.COUNTERFEIT: ("desc_brand_word", "desc_vague", "is_de_minimis", "marketplace", "mode_of_transport",
                            "seller_id_"),
}  # fmt: skip
# a pattern is named only when its signals add at least this much log-odds: 0.5 is the odds multiplied by 1.65
MIN_EVIDENCE = 0.5
NAMEABLE: tuple[Violation, ...] = tuple(SIGNALS)


def _pattern_of(feature: str) -> Violation | None:
    for pattern, signals in SIGNALS.items():
        if any(feature == s or (s.endswith("_") and feature.startswith(s)) for s in signals):
            return pattern
    return None


# a low price speaks for counterfeit, not undervaluation, where a brand is claimed (docs/domain.md: the signature of a
# counterfeit) and on a de minimis parcel, which owes no duty to evade
BRAND, DE_MINIMIS = "desc_brand_word", "is_de_minimis"
VALUE = frozenset({"declared_value_usd", "unit_value", "value_per_kg", "unit_value_to_reference"})


def evidence(contributions: Iterable[dict[str, Any]]) -> dict[Violation, float]:
    """The log-odds each nameable pattern's signals add to the score (only the signals that raise it)."""
    given = list(contributions)
    parcel = any(c["feature"] == DE_MINIMIS and c.get("input") for c in given)
    raising = [(c["feature"], c["contribution"]) for c in given if c["contribution"] > 0]
    branded = parcel or any(feature == BRAND for feature, _ in raising)
    found: dict[Violation, float] = {}
    for feature, contribution in raising:
        pattern = Violation.COUNTERFEIT if branded and feature in VALUE else _pattern_of(feature)
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
