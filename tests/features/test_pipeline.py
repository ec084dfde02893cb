from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.history import HistoryProfiles, point_in_time_counts
from features.pipeline import FeaturePipeline, entries_frame, entry_payloads, prepare
from features.schema import Entry
from features.spec import BUILTIN_SPEC, DatasetSpec, Reference


def test_same_entry_gets_bit_identical_features_on_both_paths(history: pd.DataFrame) -> None:
    """Training reads the history table; serving reads entries as JSON, validates them, looks history up."""
    rows = prepare(history, BUILTIN_SPEC)
    counts = point_in_time_counts(rows, BUILTIN_SPEC)
    cut = len(rows) * 7 // 10
    pipeline = FeaturePipeline.fit(rows.iloc[:cut], BUILTIN_SPEC)
    pipeline = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))  # as saved with the model
    trained = pipeline.transform(rows, counts)

    picks = np.random.default_rng(1).choice(np.arange(cut, len(rows)), size=40, replace=False)
    for i in picks:
        # what a targeting system sends: JSON, with floats written exactly (json.dumps uses repr)
        payload = json.dumps(entry_payloads(history.loc[[i]])[0])
        entry = Entry.model_validate_json(payload)
        served_rows = prepare(entries_frame([entry]), BUILTIN_SPEC)
        profiles = HistoryProfiles.from_frame(rows.drop(index=i), BUILTIN_SPEC, entry.filed_at)
        served = pipeline.transform(served_rows, profiles.lookup(served_rows))
        assert list(served.columns) == pipeline.feature_names
        assert served.to_numpy().tobytes() == trained.loc[[i]].to_numpy().tobytes(), history.loc[i, "entry_id"]


def test_categories_fitted_on_training_only() -> None:
    spec = DatasetSpec(
        id="id", timestamp="t", label="y", categorical=["office"], category_encoding={"office": "native"}
    )
    train = pd.DataFrame({"office": [7.0] * 6 + [8.0] * 2 + [np.nan]})
    pipeline = FeaturePipeline.fit(train.assign(y=0.0), spec)
    assert pipeline.vocab["office"] == ["7"]  # 8 is too rare for a code of its own
    rows = pd.DataFrame({"office": [7, 8, 99, None]}, dtype=object)
    codes = pipeline.transform(rows, pd.DataFrame(index=rows.index))["office"].tolist()
    assert codes[:3] == [0.0, 1.0, 1.0]  # integer 7 is the float 7.0 seen in training; rare and unseen share "other"
    assert np.isnan(codes[3])


def test_a_category_with_too_few_labels_per_value_is_read_by_its_frequency() -> None:
    spec = DatasetSpec(id="id", timestamp="t", label="y", categorical=["office", "importer"])
    offices = ["A"] * 300 + ["B"] * 300  # 300 labelled rows per office: split natively
    importers = [f"i{n % 100}" for n in range(600)]  # 6 labelled rows per importer: by frequency
    train = pd.DataFrame({"office": offices, "importer": importers, "y": 0.0})
    pipeline = FeaturePipeline.fit(train, spec)
    assert pipeline.encodings == {"office": "native", "importer": "frequency"}
    assert pipeline.categorical_features == ["office"]
    rows = pd.DataFrame({"office": ["B", "Z"], "importer": ["i7", "unknown"]})
    x = pipeline.transform(rows, pd.DataFrame(index=rows.index))
    assert x["office"].tolist() == [1.0, 2.0]  # codes; an unseen office is "other"
    assert x["importer"].tolist() == [6.0, 0.0]  # rows in the training window; unseen is 0
    unlabelled = FeaturePipeline.fit(train.assign(y=np.nan), spec)  # no labels: nothing to split categories on
    assert unlabelled.encodings == {"office": "native", "importer": "frequency"}  # few categories: LightGBM's own
    forced = spec.model_copy(update={"category_encoding": {"importer": "native"}})
    assert FeaturePipeline.fit(train, forced).encodings["importer"] == "native"
    again = FeaturePipeline.from_dict(pipeline.to_dict())
    assert again.transform(rows, pd.DataFrame(index=rows.index)).equals(x)
    old = {k: v for k, v in pipeline.to_dict().items() if k not in ("encodings", "frequencies")}  # saved before
    assert FeaturePipeline.from_dict(old).categorical_features == ["office", "importer"]


def test_a_spec_names_encodings_only_for_its_categorical_columns() -> None:
    with pytest.raises(ValueError, match="'price', which is not a categorical column"):
        DatasetSpec(id="id", timestamp="t", label="y", numeric=["price"], category_encoding={"price": "native"})


def test_reference_falls_back_to_coarser_groups() -> None:
    spec = DatasetSpec(id="id", timestamp="t", label="y", references=[Reference(value="price", by=["hs10", "hs4"])])
    train = pd.DataFrame(
        {"price": [10.0] * 5 + [40.0] * 5, "hs10": ["A1"] * 5 + ["A2"] * 5, "hs4": ["A"] * 10, "y": 0.0}
    )
    pipeline = FeaturePipeline.fit(train, spec)
    rows = pd.DataFrame({"price": [5.0, 20.0, 50.0], "hs10": ["A1", "A9", "Z9"], "hs4": ["A", "A", "Z"]})
    ratio = pipeline.transform(rows, pd.DataFrame(index=rows.index))["price_to_reference"].tolist()
    assert ratio == [0.5, 20.0 / 25.0, 50.0 / 25.0]  # own code; its heading's median; the global median


def test_smoothed_rate_and_first_time_flag() -> None:
    spec = DatasetSpec(id="id", timestamp="t", label="y", entities=["imp"])
    pipeline = FeaturePipeline.fit(pd.DataFrame({"imp": ["a"] * 10, "y": [1.0] + [0.0] * 9}), spec)
    counts = pd.DataFrame({"imp__entries": [0.0, 20.0], "imp__inspections": [0.0, 5.0], "imp__violations": [0.0, 5.0]})
    x = pipeline.transform(pd.DataFrame({"imp": ["new", "a"]}), counts)
    assert x["imp_first_time"].tolist() == [1.0, 0.0]
    assert x["imp_violation_rate"].tolist() == [0.1, (5 + 5 * 0.1) / 10]
