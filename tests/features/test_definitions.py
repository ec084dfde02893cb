"""Every built-in feature has one definition, and the code that computes or reads features agrees with it."""

from __future__ import annotations

import pandas as pd

from features.definitions import ACCOUNTS, DERIVED, FEATURES, HISTORY, feature_label, rule_fields
from features.derive import derive_entry_columns
from features.online import derive_entry
from features.pipeline import FeaturePipeline, entry_payloads, prepare
from features.schema import ENTRY_FIELDS
from features.spec import BUILTIN_SPEC


def test_both_derivations_add_exactly_the_defined_derived_columns(history: pd.DataFrame) -> None:
    frame = history.head(50)
    added = set(derive_entry_columns(frame).columns) - set(frame.columns)
    assert added == set(DERIVED)
    payload = entry_payloads(frame)[0]
    assert set(derive_entry(payload)) - set(payload) == set(DERIVED)


def test_every_model_feature_of_the_built_in_spec_is_defined(history: pd.DataFrame) -> None:
    names = FeaturePipeline.fit(prepare(history.head(2000), BUILTIN_SPEC), BUILTIN_SPEC).feature_names
    columns = [*BUILTIN_SPEC.categorical, *BUILTIN_SPEC.numeric, *(r.feature for r in BUILTIN_SPEC.references)]
    assert set(columns) <= set(FEATURES)
    assert {BUILTIN_SPEC.entity_name(e) for e in BUILTIN_SPEC.entities} == set(ACCOUNTS)
    history = {f"{a}_{s}" for a in ACCOUNTS for s in HISTORY}
    assert set(names) <= set(FEATURES) | history
    assert set(names) | set(ENTRY_FIELDS) <= rule_fields()
    assert feature_label("seller_id_prior_violations") == "seller: violations found before"
    assert feature_label("kg_per_unit_to_reference") == "gross weight per unit against the usual"


def test_a_yes_no_feature_says_both_answers_and_every_other_kind_neither() -> None:
    for name, feature in FEATURES.items():
        assert bool(feature.yes) == bool(feature.no), name
        assert feature.unit in ("", "usd", "kg")
    assert FEATURES["related_party"].yes_no and FEATURES["desc_vague"].yes_no
    assert not FEATURES["declared_value_usd"].yes_no
