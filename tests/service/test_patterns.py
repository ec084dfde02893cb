"""The likely violation pattern is the one whose signals raise the score most, or none."""

from __future__ import annotations

from service.patterns import MIN_EVIDENCE, likely_violation


def _c(feature: str, contribution: float) -> dict[str, object]:
    return {"feature": feature, "contribution": contribution}


def test_the_pattern_with_the_most_evidence_wins() -> None:
    assert likely_violation([_c("unit_value_to_reference", 0.5), _c("desc_brand_word", 0.3),
                             _c("is_de_minimis", 0.3)]) == "counterfeit"  # fmt: skip
    assert likely_violation([_c("origin_differs_from_export", 0.2), _c("hts_heading+country_of_origin_violation_rate",
                             0.3), _c("round_value", 0.4)]) == "transshipment"  # fmt: skip
    assert likely_violation([_c("desc_hts_mismatch", 0.4), _c("unit_value", 0.1)]) == "misclassification"


def test_lowering_contributions_and_unmapped_features_are_no_evidence() -> None:
    assert likely_violation([_c("unit_value_to_reference", -2.0), _c("importer_id_prior_entries", 3.0)]) is None
    assert likely_violation([_c("round_value", MIN_EVIDENCE / 2)]) is None
    assert likely_violation([_c("round_value", MIN_EVIDENCE)]) == "undervaluation"
    assert likely_violation([_c("seller_id_violation_rate", 0.2), _c("seller_idx", 9.0)]) == "counterfeit"
    assert likely_violation([]) is None


def test_a_brand_at_a_low_price_points_to_counterfeit() -> None:
    low_value = [_c("unit_value_to_reference", 0.9), _c("value_per_kg", 0.2)]
    assert likely_violation(low_value) == "undervaluation"
    assert likely_violation([*low_value, _c("desc_brand_word", 0.1)]) == "counterfeit"
    assert likely_violation([*low_value, _c("desc_brand_word", -0.1)]) == "undervaluation"  # no brand claimed
