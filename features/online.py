"""The serving side of the feature definition: entries one by one, without pandas.

A request carries one to a thousand entries, and pandas costs tens of microseconds per call
whatever the size of the frame, so serving builds the very same model inputs as `prepare` +
`FeaturePipeline.transform` with plain loops over dicts (tests hold the two equal on generated
entries). Training keeps the vectorised pandas path, which is faster over millions of rows.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from features.derive import DE_MINIMIS_TYPE
from features.history import COUNTS
from features.pipeline import PRIOR_STRENGTH, FeaturePipeline
from features.reference import ADCVD_ORDERS, BRAND_WORDS, KEYWORD_HEADINGS, VAGUE_DESCRIPTIONS
from features.spec import DatasetSpec, Entity

NAN = float("nan")
Counts = dict[str, tuple[int, int, int]]  # entity key -> (entries, inspections, violations)


def text(value: Any) -> str | None:
    """A value as category text, as `history.as_text` makes it: the code 7 read as 7.0 is "7"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number(value: Any) -> float:
    try:
        return NAN if value is None else float(value)
    except (TypeError, ValueError):
        return NAN


def _ratio(a: float, b: float) -> float:
    """a / b with IEEE semantics (x/0 is inf, 0/0 NaN), as pandas divides."""
    return float(np.float64(a) / np.float64(b)) if b == 0 else a / b


def derive_entry(e: dict[str, Any]) -> dict[str, Any]:
    """One entry's derived columns, the same values `derive.derive_entry_columns` gives its row."""
    hts, origin = text(e.get("hts_code")), text(e.get("country_of_origin"))
    value, qty = number(e.get("declared_value_usd")), number(e.get("quantity"))
    weight = number(e.get("gross_weight_kg"))
    export, mid = text(e.get("country_of_export")), text(e.get("manufacturer_id"))
    case = e.get("adcvd_case_no")
    has_case = case is not None and len(str(case)) > 0
    hts6 = hts[:6] if hts is not None else None
    heading = hts[:4] if hts is not None else None
    order = ADCVD_ORDERS.get(hts6 or "")
    lower = e["description"].lower() if isinstance(e.get("description"), str) else None
    headings: frozenset[str] = frozenset()
    if lower is not None:
        headings = frozenset().union(*(h for w, h in KEYWORD_HEADINGS.items() if w in lower))  # type: ignore[arg-type]
    return {
        **e,
        "hts_chapter": hts[:2] if hts is not None else None,
        "hts_heading": heading,
        "hts6": hts6,
        "unit_value": _ratio(value, qty),
        "value_per_kg": _ratio(value, weight),
        "kg_per_unit": _ratio(weight, qty),
        "origin_differs_from_export": NAN if origin is None or export is None else float(origin != export),
        "mid_country_differs_from_origin": NAN if mid is None or origin is None else float(mid[:2] != origin),
        "is_de_minimis": NAN if e.get("entry_type") is None else float(text(e["entry_type"]) == DE_MINIMIS_TYPE),
        "has_adcvd_case": float(has_case),
        "adcvd_scope_without_case": float(order is not None and (origin or "") in order.origins and not has_case),
        "desc_brand_word": float(lower is not None and any(w in lower for w in BRAND_WORDS)),
        "desc_vague": float(lower is not None and lower.strip() in VAGUE_DESCRIPTIONS),
        "desc_hts_mismatch": float(bool(headings) and (heading or "") not in headings),
        "round_value": float(value >= 100 and value % 100 == 0),
    }


def entity_key(row: dict[str, Any], entity: Entity) -> str | None:
    """The row's key for an entity; None where any part is missing (as `history.entity_key`)."""
    parts = [text(row.get(c)) for c in ([entity] if isinstance(entity, str) else entity)]
    return None if any(p is None for p in parts) else "|".join(parts)  # type: ignore[arg-type]


def entity_keys(spec: DatasetSpec, rows: Sequence[dict[str, Any]]) -> dict[str, list[str | None]]:
    """Each entity's key for every row, by entity name."""
    return {spec.entity_name(e): [entity_key(r, e) for r in rows] for e in spec.entities}


def history_counts(
    keys: dict[str, list[str | None]],
    times: Sequence[datetime],
    known: dict[str, Counts],
    seen: Sequence[bool],
    requests: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Counts per row (`keys` from `entity_keys`) as `HistoryProfiles.lookup` + `batch_counts` give them:
    the profiles known now, plus the batch's entries of the same entity filed strictly earlier; less the
    entry itself where it was counted already (decided before by another model version). When the rows are
    several requests decided together, `requests` numbers each row's request: a row of an earlier request counts
    whatever its filing time, as it would once recorded in the profiles."""
    out: dict[str, np.ndarray] = {}
    order = requests if requests is not None else [0] * len(times)
    for name, column in keys.items():
        table = known.get(name, {})
        values = np.full((len(column), 3), NAN)
        same: dict[str, list[int]] = defaultdict(list)
        for i, k in enumerate(column):
            if k is not None:
                values[i] = table.get(k, (0, 0, 0))
                same[k].append(i)
        for members in same.values():
            if len(members) > 1:  # each member counts those that come strictly before it: (request, time) order
                when = [(order[i], times[i]) for i in members]
                ranked = sorted(when)
                for i, w in zip(members, when):
                    values[i, 0] += bisect_left(ranked, w)
        for i, was_seen in enumerate(seen):
            if was_seen and column[i] is not None:
                values[i, 0] -= 1
        for j, c in enumerate(COUNTS):
            out[f"{name}__{c}"] = values[:, j]
    return out


def missing_as_none(x: np.ndarray) -> list[list[float | None]]:
    """Rows of x as lists, None where a value is missing (NaN): what JSON and reviewers read."""
    values = x.astype(object)
    values[np.isnan(x)] = None
    return values.tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Batch:
    """Entries as the model and the explainer read them."""

    rows: list[dict[str, Any]]  # entry fields and derived columns
    x: np.ndarray  # model inputs, in `FeaturePipeline.feature_names` order
    text: dict[str, list[str | None]]  # categorical and reference-group columns as text
    references: dict[str, tuple[np.ndarray, np.ndarray]]  # reference feature -> (median, `by` level used or -1)
    counts: dict[str, np.ndarray]  # history counts, `{entity}__{entries|inspections|violations}`
    absent: dict[str, list[bool]]  # entity name -> whether each row names no account of it (a part missing or "")


class OnlineFeatures:
    """A fitted pipeline compiled to dict lookups, built once per loaded model."""

    def __init__(self, pipeline: FeaturePipeline) -> None:
        self.pipeline = pipeline
        spec = pipeline.spec
        self.derive = spec.derive == "entry"
        self.codes = {col: pipeline.category_values(col) for col in pipeline.vocab}
        self.medians = {
            ref.feature: [(by, levels) for by, levels in zip(ref.by, pipeline.medians[ref.feature])]
            for ref in spec.references
        }
        self.text_columns = sorted({*spec.categorical, *(by for r in spec.references for by in r.by)})

    def rows(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entry fields (JSON values) with the derived columns the spec asks for."""
        return [derive_entry(e) for e in entries] if self.derive else list(entries)

    def batch(self, rows: list[dict[str, Any]], counts: dict[str, np.ndarray]) -> Batch:
        """Model inputs and what sentences need, for rows from `rows` and their history counts."""
        spec, p = self.pipeline.spec, self.pipeline
        texts = {c: [text(r.get(c)) for r in rows] for c in self.text_columns}
        references = {ref.feature: self._references(ref.feature, texts, len(rows)) for ref in spec.references}
        names = [spec.entity_name(e) for e in spec.entities]
        absent = {name: [any(r.get(part) in (None, "") for part in name.split("+")) for r in rows] for name in names}
        history = [[counts[f"{name}__{c}"].tolist() for c in COUNTS] for name in names]
        categories = [(texts[col], *self.codes[col]) for col in spec.categorical]
        ratios = [(ref.value, references[ref.feature][0].tolist()) for ref in spec.references]
        prior = PRIOR_STRENGTH * p.prior_rate
        x = []
        for i, row in enumerate(rows):  # row by row: for one to a thousand entries, cheaper than numpy calls
            values = [NAN if t[i] is None else codes.get(t[i], other) for t, codes, other in categories]  # type: ignore
            values += [number(row.get(col)) for col in spec.numeric]
            values += [_ratio(number(row.get(value)), medians[i]) for value, medians in ratios]
            for entries, insp, viol in history:
                e, n, v = entries[i], insp[i], viol[i]
                values += [e, n, v, (v + prior) / (n + PRIOR_STRENGTH), NAN if math.isnan(e) else float(e == 0)]
            x.append(values)
        matrix = np.array(x, dtype=float).reshape(len(rows), len(p.feature_names))
        return Batch(rows, matrix, texts, references, counts, absent)

    def _references(self, feature: str, texts: dict[str, list[str | None]], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's reference median (finest group known, else the global median) and the level used."""
        found = [(self.pipeline.global_medians[feature], -1)] * n
        for i in range(n):
            for level, (by, table) in enumerate(self.medians[feature]):
                group = texts[by][i]
                median = table.get(group) if group is not None else None
                if median is not None and not math.isnan(median):
                    found[i] = (median, level)
                    break
        return np.array([m for m, _ in found], dtype=float), np.array([lv for _, lv in found], dtype=int)
