"""Which violation pattern an entry's explanation points to: the pattern whose signal features
(domain.md, section 2) raise its risk the most.

The model estimates one probability of any violation; it does not classify. The likely pattern is read
from the SHAP contributions, so it says what the reasons are about, not what an inspection will find.
Import safety and forced labour have no signal among the model's features, so they are never named."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
# below this much log-odds from its signals, no pattern stands out
MIN_EVIDENCE = 0.05


def _pattern_of(feature: str) -> Violation | None:
    for pattern, signals in SIGNALS.items():
        if any(feature == s or (s.endswith("_") and feature.startswith(s)) for s in signals):
            return pattern
    return None


# a brand claimed at a low price is the counterfeit's signature (domain.md): then low value speaks for counterfeit
BRAND = "desc_brand_word"
VALUE = frozenset({"declared_value_usd", "unit_value", "value_per_kg", "unit_value_to_reference"})


def likely_violation(contributions: Iterable[dict[str, Any]]) -> str | None:
    """The pattern whose signals add the most log-odds to the score, if they add at least MIN_EVIDENCE."""
    raising = [(c["feature"], c["contribution"]) for c in contributions if c["contribution"] > 0]
    branded = any(feature == BRAND for feature, _ in raising)
    evidence: dict[Violation, float] = {}
    for feature, contribution in raising:
        pattern = Violation.COUNTERFEIT if branded and feature in VALUE else _pattern_of(feature)
        if pattern is not None:
            evidence[pattern] = evidence.get(pattern, 0.0) + contribution
    if not evidence:
        return None
    best = max(evidence, key=lambda p: evidence[p])
    return best.value if evidence[best] >= MIN_EVIDENCE else None
