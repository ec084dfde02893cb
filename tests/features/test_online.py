"""The serving feature path equals the training one: same derived columns, counts and model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.history import HistoryProfiles, batch_counts
from features.online import OnlineFeatures, derive_entry, entity_keys, history_counts
from features.pipeline import FeaturePipeline, entries_frame, entry_payloads, prepare
from features.schema import Entry
from features.spec import BUILTIN_SPEC

SPEC = BUILTIN_SPEC


@pytest.fixture(scope="module")
def fitted(history: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline.fit(prepare(history, SPEC), SPEC)


@pytest.fixture(scope="module")
def entries(history: pd.DataFrame) -> list[Entry]:
    """3,000 generated entries as the API receives them, with the awkward cases planted."""
    picked = [Entry.model_validate(p) for p in entry_payloads(history.sample(3000, random_state=3))]
    planted = [
        {"description": "  Gifts ", "adcvd_case_no": ""},  # vague after stripping; an empty case number is none
        {"description": "Designer logo sneakers", "hts_code": "6404190000"},  # a brand
        {"marketplace": None, "seller_id": None},  # no seller: history missing, not zero
        {"port_of_entry": "9999", "carrier": "ZZZZ", "hts_code": "0101210010"},  # unseen categories and groups
        {"declared_value_usd": 1200.0, "adcvd_case_no": "A-570-001"},  # a round value; a case number
    ]
    for i, change in enumerate(planted):
        picked[i] = picked[i].model_copy(update=change)
    return picked


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def test_derived_columns_equal_the_pandas_ones(entries: list[Entry]) -> None:
    fields = [e.model_dump(mode="json") for e in entries]
    frame = prepare(entries_frame(entries), SPEC)
    rows = [derive_entry(f) for f in fields]
    for col in [*SPEC.numeric, "hts_chapter", "hts_heading", "hts6"]:
        expected = frame[col].to_numpy(dtype=object, na_value=None)
        got = [r[col] for r in rows]
        if col in SPEC.numeric:
            assert _equal(np.array(got, dtype=float), frame[col].to_numpy(dtype=float)), col
        else:
            assert got == list(expected), col
    planted = frame.iloc[:5]  # the awkward cases were really exercised
    assert list(planted["has_adcvd_case"]) == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert planted["desc_vague"].iloc[0] == 1.0 and planted["desc_brand_word"].iloc[1] == 1.0
    assert planted["round_value"].iloc[4] == 1.0


def test_history_counts_equal_the_profiles_plus_the_batch(entries: list[Entry], history: pd.DataFrame) -> None:
    frame = prepare(entries_frame(entries), SPEC)
    profiles = HistoryProfiles.from_frame(prepare(history, SPEC), SPEC, pd.Timestamp("2100-01-01", tz="UTC"))
    seen = np.random.default_rng(1).random(len(entries)) < 0.2
    expected = profiles.lookup(frame) + batch_counts(frame, SPEC)
    entries_cols = [c for c in expected.columns if c.endswith("__entries")]
    expected.loc[seen, entries_cols] -= 1
    rows = [derive_entry(e.model_dump(mode="json")) for e in entries]
    got = history_counts(entity_keys(SPEC, rows), [e.filed_at for e in entries], profiles.counts, list(seen))
    assert set(got) == set(expected.columns)
    for col in expected.columns:
        assert _equal(got[col], expected[col].to_numpy(dtype=float)), col
    assert np.isnan(got["seller_id__entries"][2])  # a missing key is missing history, not a new account


@pytest.mark.parametrize("size", [1, 7, 3000])
def test_model_inputs_equal_the_pipeline(fitted: FeaturePipeline, entries: list[Entry], size: int) -> None:
    chosen = entries[:size]
    frame = prepare(entries_frame(chosen), SPEC)
    counts = batch_counts(frame, SPEC)
    expected = fitted.transform(frame, counts).to_numpy(dtype=float)
    online = OnlineFeatures(fitted)
    batch = online.batch(
        online.rows([e.model_dump(mode="json") for e in chosen]),
        {c: counts[c].to_numpy(dtype=float) for c in counts.columns},
    )
    assert batch.x.shape == expected.shape
    assert _equal(batch.x, expected)


def test_frequency_encoded_categories_equal_the_pipeline(history: pd.DataFrame, entries: list[Entry]) -> None:
    spec = SPEC.model_copy(update={"categorical": [*SPEC.categorical, "importer_id", "seller_id"]})
    fitted = FeaturePipeline.fit(prepare(history, spec), spec)
    assert fitted.encodings["importer_id"] == fitted.encodings["seller_id"] == "frequency"
    frame = prepare(entries_frame(entries), spec)
    counts = batch_counts(frame, spec)
    online = OnlineFeatures(fitted)
    batch = online.batch(
        online.rows([e.model_dump(mode="json") for e in entries]),
        {c: counts[c].to_numpy(dtype=float) for c in counts.columns},
    )
    assert _equal(batch.x, fitted.transform(frame, counts).to_numpy(dtype=float))
    importer = batch.x[:, fitted.feature_names.index("importer_id")]
    assert np.nanmax(importer) > 5 and (importer == 0).any()  # counts, and 0 for an unseen importer
