"""Load and check a table of declarations against its dataset spec; split it by time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from features.definitions import DERIVED
from features.schema import Entry, first_problem
from features.spec import DatasetSpec
from features.tables import DataError as DataError  # the training modules' error and reader, from features
from features.tables import Format, row_label
from features.tables import read_table as read_table

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, model: type[M], what: str, shape: str) -> M:
    """A pydantic model read from a YAML file; every problem is a one-line DataError naming `what`."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{what} {path} must be {shape}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise DataError(f"{what} {path}: {first_problem(exc, 'top level')}") from None


def load_spec(path: Path) -> DatasetSpec:
    """Read a dataset spec from YAML."""
    return load_yaml(path, DatasetSpec, "dataset spec", "a mapping of keys such as id, timestamp, label")


def _first_bad(raw: pd.Series, parsed: pd.Series, kind: Format | None) -> str:
    bad = raw[raw.notna() & parsed.isna()]
    return f"{bad.iloc[0]!r} in {row_label(kind, int(bad.index[0]))}"


def _parse_times(frame: pd.DataFrame, col: str, required: bool, kind: Format | None) -> pd.Series:
    raw = frame[col]
    if pd.api.types.is_numeric_dtype(raw) and raw.notna().any():  # pandas would read them as nanoseconds of 1970
        value = raw[raw.notna()].iloc[0]
        raise DataError(
            f"column {col!r}: expected dates or date-times (e.g. 2025-03-14T09:30:00Z), found numbers "
            f"such as {value} in {row_label(kind, int(raw.notna().idxmax()))}"
        )
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    if (raw.notna() & parsed.isna()).any():
        raise DataError(f"column {col!r}: not a date/time: {_first_bad(raw, parsed, kind)}")
    if required and parsed.isna().any():
        raise DataError(f"column {col!r}: {int(parsed.isna().sum())} rows have no value")
    return parsed


def _parse_numbers(frame: pd.DataFrame, col: str, kind: Format | None) -> pd.Series:
    raw = frame[col]
    if raw.dtype == bool:
        return raw.astype(float)
    parsed = pd.to_numeric(raw, errors="coerce")
    if (raw.notna() & parsed.isna()).any():
        raise DataError(f"column {col!r}: expected numbers, found {_first_bad(raw, parsed, kind)}")
    return parsed.astype(float)


def validate(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Check columns and types against the spec; return the frame with parsed times and numbers. Rows are named
    as the file they came from numbers them (see `read_table`)."""
    kind: Format | None = frame.attrs.get("format")
    raw_needed = list(spec.required_columns)
    if spec.derive == "entry":
        raw_needed += [name for name, f in Entry.model_fields.items() if f.is_required()]
        optional = {name: f.default for name, f in Entry.model_fields.items() if not f.is_required()}
        frame = frame.assign(**{name: default for name, default in optional.items() if name not in frame})
    raw_needed += [c for c in spec.feature_columns if not (spec.derive == "entry" and c in DERIVED)]
    missing = [c for c in dict.fromkeys(raw_needed) if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    out = frame.copy()
    out[spec.timestamp] = _parse_times(frame, spec.timestamp, required=True, kind=kind)
    if spec.outcome_time:
        out[spec.outcome_time] = _parse_times(frame, spec.outcome_time, required=False, kind=kind)
    label = _parse_numbers(frame, spec.label, kind)
    odd = label.notna() & ~label.isin([0.0, 1.0])
    if odd.any():
        raise DataError(f"column {spec.label!r}: labels must be 0, 1 or empty, found {label[odd].iloc[0]!r}")
    out[spec.label] = label
    if spec.revenue:
        revenue = _parse_numbers(frame, spec.revenue, kind)
        if (revenue < 0).any():
            raise DataError(f"column {spec.revenue!r}: revenue at stake cannot be negative")
        out[spec.revenue] = revenue
    if spec.selection_probability and spec.selection_probability in frame:
        chance = _parse_numbers(frame, spec.selection_probability, kind)
        if not chance[out[spec.label].notna()].between(0, 1, inclusive="right").all():
            raise DataError(f"column {spec.selection_probability!r}: labelled rows need a probability in (0, 1]")
        out[spec.selection_probability] = chance
    for col in spec.truth.numbers if spec.truth else []:
        if col in frame:
            out[col] = _parse_numbers(frame, col, kind)
    numeric = list(spec.numeric) + [r.value for r in spec.references]
    if spec.derive == "entry":
        numeric = [c for c in numeric if c not in DERIVED]
    for col in dict.fromkeys(numeric):
        out[col] = _parse_numbers(frame, col, kind)
    duplicated = out[spec.id].duplicated()
    if duplicated.any():
        raise DataError(f"column {spec.id!r}: duplicate id {out[spec.id][duplicated].iloc[0]!r}")
    if label.notna().sum() == 0:
        raise DataError(f"column {spec.label!r} has no labelled rows: nothing to learn from")
    return out.sort_values(spec.timestamp, kind="stable", ignore_index=True)


@dataclass(frozen=True)
class Split:
    """Time-ordered windows: train < valid_from <= valid < test_from <= test."""

    valid_from: pd.Timestamp
    test_from: pd.Timestamp

    def masks(self, times: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        train = (times < self.valid_from).to_numpy()
        test = (times >= self.test_from).to_numpy()
        return train, ~train & ~test, test


def time_split(frame: pd.DataFrame, spec: DatasetSpec, valid_frac: float = 0.15, test_frac: float = 0.15) -> Split:
    """Cut by filing time: at the spec's `valid_from` and `test_from` when it gives them, else so that the last
    `test_frac` of rows is the test window and the `valid_frac` before it validation."""
    times = frame[spec.timestamp].sort_values(ignore_index=True)
    if spec.valid_from and spec.test_from:
        split = Split(pd.Timestamp(spec.valid_from), pd.Timestamp(spec.test_from))
        if not times.iloc[0] < split.valid_from or not split.test_from <= times.iloc[-1]:
            span = f"{times.iloc[0]:%Y-%m-%d} to {times.iloc[-1]:%Y-%m-%d}"
            raise DataError(f"valid_from and test_from must fall inside the data ({span})")
    else:
        if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
            raise DataError("valid and test fractions must be in (0, 1) and add up to less than 1")
        n = len(times)
        split = Split(times.iloc[int(n * (1 - valid_frac - test_frac))], times.iloc[int(n * (1 - test_frac))])
    labels = frame[spec.label]
    for name, mask in zip(("train", "validation", "test"), split.masks(frame[spec.timestamp])):
        window = labels[mask].dropna()
        if window.nunique() < 2:
            raise DataError(f"the {name} window has no labelled rows of both classes: the data need a longer history")
    return split


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MAX_WEIGHT = 100.0  # caps 1 / selection probability, so that no single inspection dominates


def selection_weights(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """Inverse selection probability of each row (capped), or None when the data do not say it."""
    col = spec.selection_probability
    if not col or col not in frame:
        return None
    ipw_weights = frame[col].to_numpy(dtype=float)
    return np.minimum(1.0 / np.where(ipw_weights > 0, ipw_weights, np.nan), MAX_WEIGHT)
