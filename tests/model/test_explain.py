"""Explanations: exact TreeSHAP that agrees with the shap library, and sentences from feature definitions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import shap

from features.history import point_in_time_counts
from features.online import Batch, missing_as_none
from features.pipeline import FeaturePipeline, category_text, entry_payloads, prepare
from model.explain import MIN_EVIDENCE, Explainer
from model.scoring import Scorer
from training.data import time_split, validate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored(scorer: Scorer, history: pd.DataFrame) -> tuple[pd.DataFrame, Batch, np.ndarray, list]:
    spec = scorer.pipeline.spec
    rows = prepare(history, spec)
    counts = point_in_time_counts(rows, spec)
    pick = np.random.default_rng(5).choice(len(rows), 300, replace=False)
    rows, counts = rows.iloc[pick].reset_index(drop=True), counts.iloc[pick].reset_index(drop=True)
    x = scorer.pipeline.transform(rows, counts).to_numpy()
    batch = scorer.features.batch(
        scorer.features.rows(entry_payloads(rows)), {c: counts[c].to_numpy(dtype=float) for c in counts.columns}
    )
    assert np.array_equal(batch.x, x, equal_nan=True)  # serving builds what training built
    return rows, batch, x, scorer.score(batch, top=5)


def test_contributions_agree_with_the_shap_library_and_add_up(scorer: Scorer, scored: tuple) -> None:
    rows, batch, x, results = scored
    explainer = shap.TreeExplainer(scorer.model.booster)
    reference = explainer.shap_values(x)
    ours = np.array([[c["contribution"] for c in r.contributions] for r in results])
    assert np.abs(ours - reference).max() < 1e-6
    base = np.array([r.base_value for r in results])
    assert np.abs(base - float(np.ravel(explainer.expected_value)[0])).max() < 1e-6
    margin = scorer.model.booster.predict(x, raw_score=True)
    raw = np.array([r.raw_score for r in results])
    assert np.abs(base + ours.sum(axis=1) - raw).max() < 1e-6
    assert np.abs(raw - margin).max() < 1e-6
    scores = np.array([r.score for r in results])
    assert np.allclose(scores, scorer.model.calibration.probability(raw), atol=1e-15)


BARE = {"unit_value": "unit_value_to_reference", "kg_per_unit": "kg_per_unit_to_reference"}  # value: its ratio


def test_reasons_are_the_largest_contributions_in_plain_words_one_per_fact(scored: tuple) -> None:
    rows, _, _, results = scored
    passed_over = 0
    for i, r in enumerate(results):
        shown = [x["feature"] for x in r.reasons]
        sizes = [abs(x["contribution"]) for x in r.reasons]
        assert len(shown) == 5 and sizes == sorted(sizes, reverse=True)
        absent = {e for e in ("seller_id", "importer_id", "manufacturer_id", "shipper_id") if pd.isna(rows.loc[i, e])}

        def fact(feature: str, absent: set[str] = absent) -> str:
            if feature in BARE:
                return BARE[feature]
            return next((e for e in absent if feature.startswith(f"{e}_")), feature)

        assert len({fact(f) for f in shown}) == 5  # no fact twice: a value beside its ratio, an absent seller twice
        # every larger contribution left out states a fact a shown reason states
        for c in r.contributions:
            if abs(c["contribution"]) > sizes[-1] and c["feature"] not in shown:
                passed_over += 1
                assert fact(c["feature"]) in {fact(f) for f in shown}, c["feature"]
        for reason in r.reasons:
            assert reason["effect"] == ("raises risk" if reason["contribution"] > 0 else "lowers risk")
            assert reason["sentence"] and "_" not in reason["sentence"].replace("_to_", "")
    assert passed_over > 0  # the rule was put to the test


def test_sentences_follow_the_feature_definitions(scorer: Scorer, scored: tuple) -> None:
    rows, batch, x, _ = scored
    names = scorer.pipeline.feature_names
    shown = scorer.explainer.display_values(batch, missing_as_none(x))
    say = {
        f: [scorer.explainer.sentence(j, batch, i, shown[i][j]) for i in range(len(rows))] for j, f in enumerate(names)
    }
    ratio = names.index("unit_value_to_reference")
    for i, s in enumerate(say["unit_value_to_reference"]):
        assert s.startswith(f"declared value per unit is {x[i, ratio]:.0%} of the usual ")
    assert any("for HTS code " in s for s in say["unit_value_to_reference"])
    for i, s in enumerate(say["adcvd_scope_without_case"]):
        flag = x[i, names.index("adcvd_scope_without_case")]
        assert ("but no case number is declared" in s) == (flag == 1)
    seller = say["seller_id_violation_rate"]
    assert {s for i, s in enumerate(seller) if pd.isna(rows.loc[i, "seller_id"])} == {
        "no seller on this entry: the model rates entries without one by how often such entries violated before"
    }
    assert any(s.startswith("seller: ") and "violations in" in s for s in seller)
    mismatch = names.index("desc_hts_mismatch")
    flagged = [(i, s) for i, s in enumerate(say["desc_hts_mismatch"]) if x[i, mismatch] == 1]
    assert flagged
    for i, s in flagged:  # which heading the description names, and the declared one
        declared = str(rows.loc[i, "hts_code"])[:4]
        assert re.fullmatch(
            rf'the description \(".+"\) names goods of HTS heading \d{{4}}( or \d{{4}})*, not the '
            rf"declared heading {declared}",
            s,
        ), s
    first = [s for s in say["importer_id_first_time"] if s.startswith("first entry")]
    assert len(first) == int(np.nansum(x[:, names.index("importer_id_first_time")]))
    assert all(s.startswith("country of origin is ") for s in say["country_of_origin"])


def test_a_category_reason_quotes_its_violation_rate_in_training(
    scorer: Scorer, scored: tuple, history: pd.DataFrame
) -> None:
    rows, batch, x, _ = scored
    pipeline = scorer.pipeline
    names = pipeline.feature_names
    shown = scorer.explainer.display_values(batch, missing_as_none(x))
    # the evidence, counted again from the training window of the history the model was trained on
    spec = pipeline.spec
    table = validate(history, spec)
    trained = prepare(table[time_split(table, spec).masks(table[spec.timestamp])[0]], spec)
    overall = f"against {trained[spec.label].mean():.1%} of all inspected entries"
    quoted = 0
    for column in ("hts_heading", "carrier", "country_of_origin"):
        j = names.index(column)
        inspected = trained[trained[spec.label].notna()].groupby(category_text(trained[column]))[spec.label]
        for i in range(len(rows)):
            value, said = shown[i][j], scorer.explainer.sentence(j, batch, i, shown[i][j])
            if value is None or value not in pipeline.vocab[column]:
                continue
            n, rate = inspected.size().get(value, 0), inspected.mean().get(value, 0.0)
            if n >= MIN_EVIDENCE:
                quoted += 1
                found = trained.loc[(category_text(trained[column]) == value) & (trained[spec.label] == 1)]
                kinds = found[spec.violation_type].value_counts()
                common = ", ".join(
                    f"{k.replace('_', ' ')} {kinds[k]}" for k in sorted(kinds.index, key=lambda k: (-kinds[k], k))[:3]
                )
                typed = f" (of its {len(found)} violations: {common})" if common else ""
                said_rate = f"{rate:.1%} of its {n:,.0f} inspected entries violated in training{typed}, {overall}"
                assert said.endswith(said_rate), said
            else:
                assert said.endswith(f"{n} of its entries inspected in training, too few to compare"), said
    assert quoted > 100
    # a model saved before the evidence was kept says the category alone
    old = FeaturePipeline.from_dict({k: v for k, v in pipeline.to_dict().items() if k != "outcomes"})
    j = names.index("carrier")
    i = next(i for i in range(len(rows)) if shown[i][j] in pipeline.vocab["carrier"])
    assert Explainer(old).sentence(j, batch, i, shown[i][j]) == f"carrier is {shown[i][j]}"
