"""Every feature's contribution for an entry, and plain-language reasons built from the feature definitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from features.definitions import FEATURES, HISTORY_FEATURES, account_label, label
from features.derive import heading_words
from features.online import Batch, number
from features.pipeline import FeaturePipeline
from features.spec import Reference


def hts_text(code: str) -> str:
    """An HTS code as printed in the tariff schedule: 7317.00.5503 (ten digits), 7317.00 (six)."""
    if len(code) == 10 and code.isdigit():
        return f"{code[:4]}.{code[4:6]}.{code[6:]}"
    if len(code) == 6 and code.isdigit():
        return f"{code[:4]}.{code[4:]}"
    return code


MISMATCH = "desc_hts_mismatch"
KINDS_SHOWN = 3  # a category's commonest violation types in training, named in its reason
MIN_EVIDENCE = 10  # inspected entries of a category before its violation rate is quoted


def _mismatch_sentence(row: dict[str, Any]) -> str:
    """Which heading the description names, against the declared one."""
    words = heading_words(str(row.get("description") or ""))
    declared = str(row.get("hts_code") or "")[:4]
    named = sorted({h for hs in words.values() for h in hs} - {declared})
    if not named:
        return FEATURES[MISMATCH].yes
    said = ", ".join(f'"{w}"' for w in words)
    return (
        f"the description ({said}) names goods of HTS heading {' or '.join(named)}, not the declared heading {declared}"
    )


def _number(column: str, value: float) -> str:
    unit = FEATURES[column].unit if column in FEATURES else ""
    if unit == "usd":
        return f"${value:,.2f}"
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return shown + (" kg" if unit == "kg" else "")


@dataclass(frozen=True)
class _Kind:
    kind: str  # category | yes_no | number | reference | history
    column: str
    reference: Reference | None = None
    entity: str = ""
    stat: str = ""


class Explainer:
    """Turns SHAP contributions of one pipeline's features into records and sentences."""

    def __init__(self, pipeline: FeaturePipeline) -> None:
        self.pipeline = pipeline
        self.known = {col: frozenset(values) for col, values in pipeline.vocab.items()}
        spec = pipeline.spec
        kinds: dict[str, _Kind] = {c: _Kind("category", c) for c in spec.categorical}
        kinds |= {c: _Kind("yes_no" if c in FEATURES and FEATURES[c].yes_no else "number", c) for c in spec.numeric}
        kinds |= {r.feature: _Kind("reference", r.value, reference=r) for r in spec.references}
        for entity in spec.entities:
            name = spec.entity_name(entity)
            kinds |= {f"{name}_{stat}": _Kind("history", name, entity=name, stat=stat) for stat in HISTORY_FEATURES}
        self.kinds = [kinds[f] for f in pipeline.feature_names]
        self.compared = frozenset(k.column for k in self.kinds if k.kind == "reference")  # values with a usual
        self._categories: dict[tuple[str, str], str] = {}

    def display_values(self, batch: Batch, inputs: list[list[float | None]]) -> list[list[Any]]:
        """What a reviewer reads for each feature: the category as text, otherwise the model input
        (`inputs`: the rows of `batch.x` with None for missing)."""
        categories = [(j, batch.text[k.column]) for j, k in enumerate(self.kinds) if k.kind == "category"]
        shown: list[list[Any]] = [list(row) for row in inputs]
        for j, texts in categories:
            for row, t in zip(shown, texts):
                row[j] = t
        return shown

    def sentence(self, j: int, batch: Batch, i: int, value: Any) -> str:
        """One plain-language sentence about feature j of row i."""
        k = self.kinds[j]
        if k.kind == "category":
            return self._category_sentence(k.column, value)
        if k.kind == "history" and (value is None or self.absent(k, batch, i)):
            who = account_label(k.entity)
            return (
                f"no {who} on this entry: the model rates entries without one by how often such entries violated before"
            )
        if value is None:
            return f"{label(k.column)} is not given"
        if k.kind == "yes_no":
            if k.column == MISMATCH and value >= 0.5:
                return _mismatch_sentence(batch.rows[i])
            flag = FEATURES[k.column]
            return flag.yes if value >= 0.5 else flag.no
        if k.kind == "number":
            return f"{label(k.column)} is {_number(k.column, value)}"
        if k.kind == "reference":
            return self._reference_sentence(k.reference, batch, i, value)  # type: ignore[arg-type]
        return self._history_sentence(k, batch, i, value)

    def absent(self, k: _Kind, batch: Batch, i: int) -> bool:
        """Whether the entry names no account of a history feature's entity (a parcel without a seller)."""
        return batch.absent[k.entity][i]

    def pick(self, order: list[int], batch: Batch, i: int, top: int) -> list[int]:
        """The features whose reasons are shown, the largest contributions first (`order`), one reason per fact:
        a value's ratio to the usual stands for the value itself, and one history feature of an absent account
        for all of them."""
        chosen: list[int] = []
        facts: set[str] = set()
        for j in order:
            k = self.kinds[j]
            if k.kind == "history" and self.absent(k, batch, i):
                fact = f"absent:{k.entity}"
            elif k.kind == "reference":  # the ratio says more than the bare value: it takes the value's place
                fact = f"ratio:{k.column}"
                chosen = [c for c in chosen if (self.kinds[c].kind, self.kinds[c].column) != ("number", k.column)]
                facts.add(f"value:{k.column}")
            elif k.kind == "number" and k.column in self.compared:
                fact = f"value:{k.column}"
            else:
                fact = f"feature:{j}"
            if fact not in facts:
                facts.add(fact)
                chosen.append(j)
            if len(chosen) == top:
                break
        return chosen

    def _category_sentence(self, column: str, value: str | None) -> str:
        """The category, with the evidence of the training window: how often its inspected entries violated,
        against all inspected entries (pipelines saved before the evidence was kept: the category alone)."""
        if value is None:
            return f"{label(column)} is not given"
        key = (column, value)
        if key in self._categories:
            return self._categories[key]
        said = f"{label(column)} is {hts_text(value) if column.startswith('hts') else value}"
        if value not in self.known.get(column, ()):
            return said + " (rarely seen in training)"
        # a category of the vocabulary always reads the same: its sentence is kept (as many as the vocabulary holds)
        self._categories[key] = self._evidence(column, value, said)
        return self._categories[key]

    def _evidence(self, column: str, value: str, said: str) -> str:
        """`said` with the category's record in training."""
        seen = self.pipeline.outcome(column, value)
        if seen is None:
            return said
        inspected, violations, kinds = seen
        if inspected < MIN_EVIDENCE:
            return f"{said}: {inspected:.0f} of its entries inspected in training, too few to compare"
        common = sorted(kinds, key=lambda k: (-kinds[k], k))[:KINDS_SHOWN]  # ties: by name
        typed = ", ".join(f"{k.replace('_', ' ')} {kinds[k]:.0f}" for k in common)
        pattern = f" (of its {violations:.0f} violations: {typed})" if common else ""
        return (
            f"{said}: {violations / inspected:.1%} of its {inspected:,.0f} inspected entries violated in training"
            f"{pattern}, against {self.pipeline.prior_rate:.1%} of all inspected entries"
        )

    def _reference_sentence(self, ref: Reference, batch: Batch, i: int, ratio: float) -> str:
        medians, levels = batch.references[ref.feature]
        level = int(levels[i])
        where = "across all goods"
        if level >= 0:
            by = ref.by[level]
            group = str(batch.text[by][i])
            where = f"for {label(by)} {hts_text(group) if by.startswith('hts') else group}"
        declared = _number(ref.value, number(batch.rows[i].get(ref.value)))
        usual = _number(ref.value, float(medians[i]))
        return f"{label(ref.value)} is {ratio:.0%} of the usual {where} ({declared} against {usual})"

    def _history_sentence(self, k: _Kind, batch: Batch, i: int, value: float) -> str:
        who = account_label(k.entity)
        entries, inspections, violations = (
            batch.counts[f"{k.entity}__{c}"][i] for c in ("entries", "inspections", "violations")
        )
        if k.stat in ("prior_entries", "first_time"):
            return f"first entry from this {who}" if entries == 0 else f"{who} filed {entries:.0f} entries before"
        if k.stat == "prior_inspections":
            return f"{who} was inspected {inspections:.0f} times before"
        if k.stat == "prior_violations":
            return f"{who} had {violations:.0f} violations found in {inspections:.0f} inspections"
        return f"{who}: {violations:.0f} violations in {inspections:.0f} inspections (smoothed rate {value:.0%})"
