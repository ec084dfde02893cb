"""The one definition of model inputs, shared by training and serving.

`prepare` turns raw rows into the columns the spec names (adding the built-in entry columns when
the spec asks for them); `FeaturePipeline.fit` learns, from the training window only, the
category vocabularies, reference medians and history prior; `transform` builds the float matrix
the model reads, from prepared rows and their point-in-time history counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import HISTORY_FEATURES
from features.derive import derive_entry_columns
from features.history import COUNTS, as_text
from features.schema import ENTRY_FIELDS, Entry
from features.spec import DatasetSpec, Reference

MIN_CATEGORY_COUNT = 5  # rarer categories share one "other" code
# A native categorical split learns one rate per category from the labelled rows. A column of many categories (an
# importer or seller id) with fewer than MIN_LABELS_PER_CATEGORY labelled rows per category kept gives it noise to
# learn: such a column is read by its frequency in the training window instead, and a trader's identity reaches the
# model through the entity's history. Up to MANY_CATEGORIES, LightGBM's own regularisation of category splits
# (min_data_per_group, cat_smooth) is left to work.
MIN_LABELS_PER_CATEGORY = 50
MANY_CATEGORIES = 64
MIN_REFERENCE_COUNT = 5  # a group needs this many rows for its own median
PRIOR_STRENGTH = 5.0  # pseudo-inspections behind the smoothed violation rate


def entries_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """Validated entries as rows with the same columns and types as a history table."""
    frame = pd.DataFrame([e.model_dump(mode="json") for e in entries], columns=list(ENTRY_FIELDS))
    frame["filed_at"] = pd.to_datetime(frame["filed_at"], utc=True)
    return frame


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def entry_payloads(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a history table as a targeting system sends them: JSON-ready, floats exact."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame[list(ENTRY_FIELDS)].to_dict("records")]


def prepare(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Rows as the pipeline reads them: derived columns added when the spec asks."""
    return derive_entry_columns(frame) if spec.derive == "entry" else frame


def category_text(col: pd.Series) -> pd.Series:
    """Categories as text, so that integer codes 7 and 7.0 are one category."""
    return as_text(col)


def choose_encodings(spec: DatasetSpec, categories: dict[str, int], labelled: int) -> dict[str, str]:
    """Each categorical column's encoding: the spec's where it names one; else frequency for a column of more than
    MANY_CATEGORIES categories kept with under MIN_LABELS_PER_CATEGORY labelled rows each in the training window;
    else native."""
    chosen: dict[str, str] = {}
    for col in spec.categorical:
        asked = spec.category_encoding.get(col, "auto")
        thin = categories[col] > MANY_CATEGORIES and labelled < MIN_LABELS_PER_CATEGORY * categories[col]
        chosen[col] = asked if asked != "auto" else ("frequency" if thin else "native")
    return chosen


OUTCOME_COLUMNS = {
    "column": "object",
    "value": "object",
    "kind": "object",  # "" for all inspected rows; a violation type for the violations of that type
    "inspected": "float64",
    "violations": "float64",
}
Outcomes = list[Any]  # [inspected, violations, {violation type: count}] of one category


def category_outcomes(rows: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Inspected (labelled) rows and violations found per category of each categorical column, and the
    violations per type where the spec's `violation_type` column holds them: one row per (column, value, kind)
    present; rows of several parts add up."""
    labelled = rows[rows[spec.label].notna()]
    y = labelled[spec.label].astype(float)
    typed = spec.violation_type if spec.violation_type in labelled else None
    kinds = labelled[typed].where(y > 0).astype(object) if typed else None
    parts = []
    for c in spec.categorical:
        value = category_text(labelled[c])
        counts = y.groupby(value).agg(["size", "sum"]).rename_axis("value").reset_index().assign(column=c, kind="")
        parts.append(counts.rename(columns={"size": "inspected", "sum": "violations"}))
        if kinds is not None:
            found = kinds.notna()
            by_kind = kinds[found].groupby([value[found], kinds[found]]).size().rename("violations")
            by_kind = by_kind.rename_axis(["value", "kind"]).reset_index().assign(column=c, inspected=0.0)
            parts.append(by_kind)
    table = pd.concat(parts) if parts else pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    return table[list(OUTCOME_COLUMNS)].astype(OUTCOME_COLUMNS)


def outcomes_by_vocab(table: pd.DataFrame, vocab: dict[str, list[str]]) -> dict[str, list[Outcomes]]:
    """Per column, [inspected, violations, {type: violations}] of each vocabulary entry, in vocabulary order,
    from `category_outcomes` of one or more parts."""
    totals = table.groupby(["column", "value", "kind"])[["inspected", "violations"]].sum()
    found: dict[tuple[str, str], Outcomes] = {}
    for (column, value, kind), inspected, violations in zip(totals.index, totals["inspected"], totals["violations"]):
        entry = found.setdefault((column, value), [0.0, 0.0, {}])
        if kind:
            entry[2][kind] = float(violations)
        else:
            entry[0], entry[1] = float(inspected), float(violations)
    return {c: [found.get((c, v), [0.0, 0.0, {}]) for v in values] for c, values in vocab.items()}


def forced_native(pipeline: FeaturePipeline, labelled: int) -> list[str]:
    """The columns the spec makes native categoricals that `auto` would read by frequency: likely to overfit."""
    spec = pipeline.spec.model_copy(update={"category_encoding": {}})
    auto = choose_encodings(spec, {c: len(v) for c, v in pipeline.vocab.items()}, labelled)
    return [c for c, e in pipeline.encodings.items() if e == "native" and auto[c] == "frequency"]


def encoding_warnings(pipeline: FeaturePipeline, labelled: int) -> list[str]:
    """One warning per column the spec makes a native categorical though its categories are too many and too thin
    for the `labelled` rows of the training window."""
    return [
        f"the spec makes {c!r} a native categorical with {len(pipeline.vocab[c]):,} categories and {labelled:,} "
        f"labelled rows in the training window (under {MIN_LABELS_PER_CATEGORY} per category): expect it to "
        "overfit; leave its encoding to auto, or make it an entity"
        for c in forced_native(pipeline, labelled)
    ]


@dataclass
class FeaturePipeline:
    """Fitted state of the feature definition; JSON-serialisable, saved with every model."""

    spec: DatasetSpec
    vocab: dict[str, list[str]]
    medians: dict[str, list[dict[str, float]]]  # reference feature -> per `by` level, group -> median
    global_medians: dict[str, float]
    prior_rate: float
    # categorical column -> "native" or "frequency"; a column missing here is native (models trained before)
    encodings: dict[str, str] = field(default_factory=dict)
    frequencies: dict[str, list[float]] = field(default_factory=dict)  # frequency column -> rows per vocab entry
    # column -> [inspected, violations] of each vocab entry in the training window: the evidence a reason quotes
    outcomes: dict[str, list[Outcomes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # lookup tables built once per loaded pipeline, not per request
        self._codes = {col: pd.Index(values) for col, values in self.vocab.items()}
        self._positions = {col: {v: i for i, v in enumerate(values)} for col, values in self.vocab.items()}
        self._values = {}  # each category's value in vocabulary order, then the value of any other category
        for col in self.vocab:
            table, other = self.category_values(col)
            self._values[col] = np.array([*table.values(), other], dtype=float)
        self._medians = {
            feature: [(pd.Index(list(level)), np.fromiter(level.values(), dtype=float)) for level in levels]
            for feature, levels in self.medians.items()
        }

    @property
    def feature_names(self) -> list[str]:
        names = [*self.spec.categorical, *self.spec.numeric, *(r.feature for r in self.spec.references)]
        names += [f"{self.spec.entity_name(e)}_{h}" for e in self.spec.entities for h in HISTORY_FEATURES]
        return names

    @property
    def categorical_features(self) -> list[str]:
        """The columns LightGBM splits as categories."""
        return [c for c in self.spec.categorical if self.encodings.get(c, "native") == "native"]

    def category_values(self, column: str) -> tuple[dict[str, float], float]:
        """What the model reads for each category of a column, and for one outside the vocabulary: its code, or
        (frequency encoding) its row count in the training window, 0 for a category seen fewer than
        MIN_CATEGORY_COUNT times."""
        vocab = self.vocab[column]
        if column in self.frequencies:
            return dict(zip(vocab, self.frequencies[column])), 0.0
        return {v: float(i) for i, v in enumerate(vocab)}, float(len(vocab))

    @classmethod
    def fit(cls, train: pd.DataFrame, spec: DatasetSpec) -> FeaturePipeline:
        """Learn vocabularies, reference medians and the violation prior from prepared training rows."""
        vocab, frequencies = {}, {}
        for col in spec.categorical:
            counts = category_text(train[col]).value_counts()
            kept = counts[counts >= MIN_CATEGORY_COUNT]
            vocab[col] = sorted(kept.index.tolist())
            frequencies[col] = [float(kept[v]) for v in vocab[col]]
        encodings = choose_encodings(spec, {c: len(v) for c, v in vocab.items()}, int(train[spec.label].notna().sum()))
        medians: dict[str, list[dict[str, float]]] = {}
        global_medians: dict[str, float] = {}
        for ref in spec.references:
            value = train[ref.value].astype(float)
            ok = np.isfinite(value) & (value > 0)
            levels = []
            for by in ref.by:
                grouped = value[ok].groupby(category_text(train[by])[ok])
                stats = grouped.agg(["median", "size"])
                levels.append(stats.loc[stats["size"] >= MIN_REFERENCE_COUNT, "median"].astype(float).to_dict())
            medians[ref.feature] = levels
            global_medians[ref.feature] = float(value[ok].median()) if ok.any() else 1.0
        labels = train[spec.label].dropna().astype(float)
        prior = float(labels.mean()) if len(labels) else 0.0
        frequent = {c: f for c, f in frequencies.items() if encodings[c] == "frequency"}
        outcomes = outcomes_by_vocab(category_outcomes(train, spec), vocab)
        return cls(spec, vocab, medians, global_medians, prior, encodings, frequent, outcomes)

    def outcome(self, column: str, value: str) -> tuple[float, float, dict[str, float]] | None:
        """Inspected entries, violations found and violations per type of a category in the training window
        (pipelines saved before types were kept: none); None if not kept."""
        at = self._positions[column].get(value) if column in self.outcomes else None
        if at is None:
            return None
        inspected, violations, *kinds = self.outcomes[column][at]
        return inspected, violations, kinds[0] if kinds else {}

    def transform(self, rows: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
        """Model inputs (float64) for prepared rows and their history counts, in `feature_names` order."""
        out: dict[str, np.ndarray] = {}
        for col in self.spec.categorical:
            at = self._codes[col].get_indexer(category_text(rows[col]))  # -1 outside the vocabulary: the last value
            missing = rows[col].isna().to_numpy()
            out[col] = np.where(missing, np.nan, self._values[col][at])
        for col in self.spec.numeric:
            out[col] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for ref in self.spec.references:
            reference, _ = self.reference_prices(ref, rows)
            out[ref.feature] = rows[ref.value].to_numpy(dtype=float, na_value=np.nan) / reference
        for entity in self.spec.entities:
            name = self.spec.entity_name(entity)
            entries, insp, viol = (counts[f"{name}__{c}"].to_numpy(dtype=float) for c in COUNTS)
            out[f"{name}_prior_entries"] = entries
            out[f"{name}_prior_inspections"] = insp
            out[f"{name}_prior_violations"] = viol
            out[f"{name}_violation_rate"] = (viol + PRIOR_STRENGTH * self.prior_rate) / (insp + PRIOR_STRENGTH)
            out[f"{name}_first_time"] = np.where(np.isnan(entries), np.nan, (entries == 0).astype(float))
        return pd.DataFrame(out, index=rows.index)[self.feature_names]

    def reference_prices(self, ref: Reference, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's reference median and the index of the `by` level it came from (-1: global median)."""
        reference = np.full(len(rows), np.nan)
        level_used = np.full(len(rows), -1)
        for i, (by, (keys, values)) in enumerate(zip(ref.by, self._medians[ref.feature])):
            at = keys.get_indexer(category_text(rows[by]))
            found = np.where(at >= 0, values[at], np.nan) if len(values) else np.full(len(rows), np.nan)
            fill = np.isnan(reference) & ~np.isnan(found)
            reference = np.where(fill, found, reference)
            level_used = np.where(fill, i, level_used)
        return np.where(np.isnan(reference), self.global_medians[ref.feature], reference), level_used

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "vocab": self.vocab,
            "medians": self.medians,
            "global_medians": self.global_medians,
            "prior_rate": self.prior_rate,
            "encodings": self.encodings,
            "frequencies": self.frequencies,
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeaturePipeline:
        return cls(
            DatasetSpec.model_validate(data["spec"]),
            data["vocab"],
            data["medians"],
            data["global_medians"],
            data["prior_rate"],
            data.get("encodings", {}),
            data.get("frequencies", {}),
            data.get("outcomes", {}),  # pipelines saved before: reasons without the evidence
        )
