"""Drift of model inputs and scores: a reference distribution saved with the model, and the population
stability index (PSI) of recent traffic against it.

Training bins each feature and the calibrated score on its test window (the traffic the model was judged
on) and saves the shares with the model version; the service bins recent decisions the same way and flags
a column whose PSI exceeds `THRESHOLD`. Pure: numpy and pandas only, so that both sides share one binning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

THRESHOLD = 0.2  # PSI above this is flagged: the usual reading is < 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted
SCORE = "score"  # the name of the score's column in a reference
MAX_CATEGORIES = 20  # codes with a bin of their own; rarer codes share "other", so that bins keep enough rows

Kind = Literal["numeric", "categorical"]


def _float_text(v: float, digits: int) -> str:
    """`digits` significant digits, positional unless tiny or huge: "1410", not "1.41e+03"."""
    if v == 0 or 1e-4 <= abs(v) < 1e15:
        return str(np.format_float_positional(v, precision=digits, unique=False, fractional=False, trim="-"))
    return f"{v:.{digits}g}"


def _edge_texts(edges: tuple[float, ...]) -> list[str]:
    """Edges printed short, with as many digits as it takes to tell neighbours apart."""
    for digits in range(3, 17):
        texts = [_float_text(e, digits) for e in edges]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(e) for e in edges]


@dataclass(frozen=True)
class ColumnReference:
    """One column's bins and the reference's share in each; the last bin is always "missing"."""

    name: str
    kind: Kind
    edges: tuple[float, ...]  # numeric: increasing interior cut points; bin i holds edges[i-1] < v <= edges[i]
    categories: tuple[float, ...]  # categorical: codes with a bin of their own, most frequent first
    proportions: tuple[float, ...]

    def __post_init__(self) -> None:
        # a damaged or hand-edited reference fails where it is read, not as a shape error in the service
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"drift reference of {self.name!r}: unknown kind {self.kind!r}")
        if len(self.proportions) != self.bins:
            raise ValueError(
                f"drift reference of {self.name!r}: {len(self.proportions)} proportions for {self.bins} bins"
            )
        if self.kind == "numeric" and any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"drift reference of {self.name!r}: edges are not increasing")

    @property
    def bins(self) -> int:
        """Value bins plus the missing bin: numeric len(edges) + 1, categorical categories + "other"."""
        return len(self.edges) + 2 if self.kind == "numeric" else len(self.categories) + 2

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of `values` (NaN or None: missing) fall in each bin, in the order of `proportions`."""
        v = np.asarray(values, dtype=float).ravel()
        missing = np.isnan(v)
        present = v[~missing]
        if self.kind == "numeric":
            # side="left": a value equal to an edge belongs to the bin the edge closes; ±inf land outermost
            at = np.searchsorted(np.asarray(self.edges, dtype=float), present, side="left")
        else:
            at = pd.Index(np.asarray(self.categories, dtype=float)).get_indexer(present)
            at = np.where(at < 0, len(self.categories), at)  # unseen codes: "other"
        counts = np.bincount(at, minlength=self.bins - 1)
        return np.append(counts, int(missing.sum()))

    def labels(self) -> list[str]:
        """A short label per bin: "≤ 0.31", "0.31 – 0.52", "> 4.1", "code 3", "other", "missing"."""
        if self.kind == "categorical":
            codes = [f"{int(c)}" if float(c).is_integer() else f"{c:g}" for c in self.categories]
            return [f"code {c}" for c in codes] + ["other", "missing"]
        if not self.edges:
            return ["any value", "missing"]
        t = _edge_texts(self.edges)
        return [f"≤ {t[0]}", *(f"{a} – {b}" for a, b in zip(t, t[1:])), f"> {t[-1]}", "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "proportions": list(self.proportions),
        }

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> ColumnReference:
        return cls(
            name,
            d["kind"],
            tuple(map(float, d["edges"])),
            tuple(map(float, d["categories"])),
            tuple(map(float, d["proportions"])),
        )


@dataclass(frozen=True)
class DriftReference:
    """Every model feature's and the score's reference bins, with the window they were taken from."""

    window: str  # e.g. "test window from 2025-06-01, 30,000 entries"
    rows: int
    columns: dict[str, ColumnReference]  # every model feature by name, plus SCORE

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "rows": self.rows,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReference:
        columns = {name: ColumnReference.from_dict(name, c) for name, c in d["columns"].items()}
        return cls(str(d["window"]), int(d["rows"]), columns)


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = counts.sum()
    return tuple(float(c) for c in (counts / total if total else np.zeros(len(counts))))


def _numeric(name: str, values: np.ndarray, bins: int) -> ColumnReference:
    present = values[~np.isnan(values)]
    edges: tuple[float, ...] = ()
    if len(present):
        # quantiles that are observed values: no interpolation across ±inf, and a 0/1 flag cuts at 0
        cuts = np.unique(np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf"))
        # a cut at the maximum would leave its upper bin empty, so a constant column gets no cut at all
        edges = tuple(float(e) for e in cuts if np.isfinite(e) and e < present.max())
    binning = ColumnReference(name, "numeric", edges, (), (0.0,) * (len(edges) + 2))  # the bins, shares to come
    return ColumnReference(name, "numeric", edges, (), _shares(binning.counts(values)))


def _categorical(name: str, values: np.ndarray) -> ColumnReference:
    codes, n = np.unique(values[~np.isnan(values)], return_counts=True)
    order = np.lexsort((codes, -n))[:MAX_CATEGORIES]  # most frequent first, ties by code: reproducible
    categories = tuple(float(c) for c in codes[order])
    binning = ColumnReference(name, "categorical", (), categories, (0.0,) * (len(categories) + 2))
    return ColumnReference(name, "categorical", (), categories, _shares(binning.counts(values)))


def build_reference(
    x: pd.DataFrame, scores: np.ndarray, categorical: Sequence[str], window: str, bins: int = 10
) -> DriftReference:
    """The reference of a window of traffic.

    x: model inputs (the feature frame, categories as numeric codes, NaN missing); scores: calibrated
    scores of the same rows. Numeric columns (and the score) are cut at their deciles (`bins`),
    categorical ones get a bin per frequent code.
    """
    if SCORE in x.columns:
        raise ValueError(f"a model feature is named {SCORE!r}, the name the score's column takes in a reference")
    if len(scores) != len(x):
        raise ValueError(f"{len(scores)} scores for {len(x)} rows of model inputs")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    cats = set(categorical)
    columns: dict[str, ColumnReference] = {}
    for name in map(str, x.columns):
        values = x[name].to_numpy(dtype=float, na_value=np.nan)
        columns[name] = _categorical(name, values) if name in cats else _numeric(name, values, bins)
    columns[SCORE] = _numeric(SCORE, np.asarray(scores, dtype=float), bins)
    return DriftReference(window, len(x), columns)


def psi(expected: np.ndarray, actual_counts: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index: sum((a - e) * ln(a / e)) over bins of the shares e and a.

    `expected` are shares, `actual_counts` counts; both shares are floored at `floor` so that an empty
    bin adds a large but finite term instead of infinity. Each term is >= 0, and so is the sum.
    """
    counts = np.asarray(actual_counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        return 0.0
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(counts / total, floor)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class ColumnDrift:
    """One column of recent traffic against its reference."""

    name: str
    psi: float
    flagged: bool  # psi > threshold
    rows: int  # how many recent values were compared
    expected: tuple[float, ...]  # reference shares per bin
    actual: tuple[float, ...]  # recent shares per bin
    labels: tuple[str, ...]


def compare(
    reference: DriftReference, current: Mapping[str, np.ndarray], threshold: float = THRESHOLD
) -> list[ColumnDrift]:
    """Drift of every column of `current` that the reference knows, worst first.

    Columns with no values give psi 0 and rows 0, not flagged; columns the reference does not know
    (a feature added since) are left out.
    """
    drifts = []
    for name, values in current.items():
        column = reference.columns.get(name)
        if column is None:
            continue
        counts = column.counts(values)
        value = psi(np.asarray(column.proportions), counts)
        drifts.append(
            ColumnDrift(
                name,
                value,
                value > threshold,
                int(counts.sum()),
                column.proportions,
                _shares(counts),
                tuple(column.labels()),
            )
        )
    return sorted(drifts, key=lambda d: (-d.psi, d.name))
