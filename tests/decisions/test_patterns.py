"""The likely violation pattern: the one whose signals raise the score most, named only for an entry in an
intervention's lane and only with enough evidence."""

from __future__ import annotations

from decisions.actions import Action
from decisions.patterns import MIN_EVIDENCE, NAMEABLE, likely_violation
from features.codes import Violation
from features.definitions import SIGNALS

LANE = Action.DOCUMENT_REVIEW


def _c(feature: str, contribution: float, given: float | None = None) -> dict[str, object]:
    return {"feature": feature, "contribution": contribution, "input": given}


def test_the_pattern_with_the_most_evidence_wins() -> None:
    assert (
        likely_violation([_c("unit_value_to_reference", 0.9), _c("desc_brand_word", 0.3), _c("marketplace", 0.3)], LANE)
        == "counterfeit"
    )
    assert (
        likely_violation(
            [
                _c("origin_differs_from_export", 0.2),
                _c("hts_heading+country_of_origin_violation_rate", 0.6),
                _c("round_value", 0.7),
            ],
            LANE,
        )
        == "transshipment"
    )
    assert likely_violation([_c("desc_hts_mismatch", 0.8), _c("unit_value", 0.1)], LANE) == "misclassification"


def test_a_released_entry_names_no_pattern_however_strong_its_signals() -> None:
    strong = [_c("desc_hts_mismatch", 3.0)]
    assert likely_violation(strong, Action.RELEASE) is None
    assert all(likely_violation(strong, lane) == "misclassification" for lane in Action if lane is not Action.RELEASE)


def test_lowering_contributions_unmapped_features_and_weak_signals_are_no_evidence() -> None:
    assert likely_violation([_c("unit_value_to_reference", -2.0), _c("importer_id_prior_entries", 3.0)], LANE) is None
    assert likely_violation([_c("round_value", MIN_EVIDENCE * 0.99)], LANE) is None
    assert likely_violation([_c("round_value", MIN_EVIDENCE)], LANE) == "undervaluation"
    assert likely_violation([_c("seller_id_violation_rate", 0.6), _c("seller_idx", 9.0)], LANE) == "counterfeit"
    assert likely_violation([], LANE) is None


def test_a_low_price_points_to_counterfeit_with_a_brand_or_on_a_de_minimis_parcel() -> None:
    low_value = [_c("unit_value_to_reference", 0.9), _c("value_per_kg", 0.2)]
    assert likely_violation(low_value, LANE) == "undervaluation"
    assert likely_violation([*low_value, _c("desc_brand_word", 0.1)], LANE) == "counterfeit"
    assert likely_violation([*low_value, _c("desc_brand_word", -0.1)], LANE) == "undervaluation"  # no brand claimed
    # a de minimis parcel owes no duty to evade: its low price is the counterfeit's, whatever is_de_minimis adds
    assert likely_violation([*low_value, _c("is_de_minimis", -0.01, 1.0)], LANE) == "counterfeit"
    assert likely_violation([*low_value, _c("is_de_minimis", 0.0, 0.0)], LANE) == "undervaluation"


def test_the_nameable_patterns_are_those_some_feature_signals() -> None:
    assert NAMEABLE == (
        Violation.UNDERVALUATION,
        Violation.TRANSSHIPMENT,
        Violation.COUNTERFEIT,
        Violation.MISCLASSIFICATION,
    )
    assert SIGNALS["seller_id_violation_rate"] is Violation.COUNTERFEIT
    assert SIGNALS["hts_heading+country_of_origin_prior_violations"] is Violation.TRANSSHIPMENT
    assert "importer_id_violation_rate" not in SIGNALS  # an importer's record points to no one pattern
