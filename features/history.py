"""Point-in-time account history: what was known about an importer, MID, shipper... at filing time.

An entry counts the entity's entries filed strictly before it, and the inspections and
violations whose outcomes were known strictly before it. Training computes this for every row
at once (`point_in_time_counts`); serving looks the same counts up in a snapshot
(`HistoryProfiles`). Both feed `features.pipeline`, so the two paths cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.spec import DatasetSpec, Entity

COUNTS = ("entries", "inspections", "violations")


def entity_key(frame: pd.DataFrame, entity: Entity) -> pd.Series:
    """One string key per row; missing where any part of the entity is missing."""
    cols = [entity] if isinstance(entity, str) else entity
    parts = [as_text(frame[c]) for c in cols]
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def as_text(col: pd.Series) -> pd.Series:
    """Values as text, so that the integer code 7 read as 7.0 is still "7"."""
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(dtype=float)
        finite = values[~np.isnan(values)]
        if np.array_equal(finite, np.round(finite)):
            col = col.astype("Int64")
    return col.astype("string")


def outcome_times(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """When each row's outcome became known (NaT where there is no outcome)."""
    known = frame[spec.label].notna()
    if spec.outcome_time:
        when = frame[spec.outcome_time]
    else:
        when = frame[spec.timestamp] + pd.Timedelta(days=spec.label_delay_days)
    return when.where(known)


def _ns(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("i8")


def point_in_time_counts(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """For every row, the entity counts known strictly before its timestamp."""
    t = _ns(frame[spec.timestamp])
    known = _ns(outcome_times(frame, spec))
    has_outcome = frame[spec.label].notna().to_numpy()
    violated = (frame[spec.label].fillna(0).to_numpy(dtype=float) > 0) & has_outcome
    out: dict[str, np.ndarray] = {}
    for entity in spec.entities:
        name = spec.entity_name(entity)
        key = entity_key(frame, entity)
        valid = key.notna().to_numpy()
        if not valid.any():
            out |= {f"{name}__{c}": np.full(len(frame), np.nan) for c in COUNTS}
            continue
        codes = pd.factorize(key)[0]
        entries = pd.Series(t).groupby(codes).rank(method="min").to_numpy() - 1
        ev = valid & has_outcome
        # Outcome events and the rows asking, in one sequence ordered by key then time; at equal
        # times the asking row goes first, so an outcome known at the very filing time does not count.
        k = np.r_[codes[ev], codes[valid]]
        when = np.r_[known[ev], t[valid]]
        asks = np.r_[np.zeros(ev.sum(), bool), np.ones(valid.sum(), bool)]
        insp = np.r_[np.ones(ev.sum()), np.zeros(valid.sum())]
        viol = np.r_[violated[ev].astype(float), np.zeros(valid.sum())]
        order = np.lexsort((~asks, when, k))
        k, asks, insp, viol = k[order], asks[order], insp[order], viol[order]
        starts = np.r_[True, k[1:] != k[:-1]]
        group = np.cumsum(starts) - 1
        ci, cv = np.cumsum(insp), np.cumsum(viol)
        base_i = (ci - insp)[starts][group]
        base_v = (cv - viol)[starts][group]
        idx = np.r_[np.full(ev.sum(), -1), np.flatnonzero(valid)][order]
        result = np.full((len(frame), 3), np.nan)
        result[idx[asks], 0] = entries[idx[asks]]
        result[idx[asks], 1] = (ci - base_i)[asks]
        result[idx[asks], 2] = (cv - base_v)[asks]
        for j, c in enumerate(COUNTS):
            out[f"{name}__{c}"] = result[:, j]
    return pd.DataFrame(out, index=frame.index)


def batch_counts(rows: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Counts among the rows themselves: entries of the same entity filed earlier in the same batch."""
    if len(rows) == 1:  # nothing earlier in a batch of one
        return pd.DataFrame(
            {
                f"{spec.entity_name(e)}__{c}": np.where(entity_key(rows, e).isna(), np.nan, 0.0)
                for e in spec.entities
                for c in COUNTS
            },
            index=rows.index,
        )
    unlabelled = rows.assign(**{spec.label: np.nan})
    if spec.outcome_time:
        unlabelled[spec.outcome_time] = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns, UTC]")
    return point_in_time_counts(unlabelled, spec)


@dataclass
class HistoryProfiles:
    """Entity counts as of one moment: the serving-side view of the same history."""

    spec: DatasetSpec
    counts: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, spec: DatasetSpec, as_of: pd.Timestamp) -> HistoryProfiles:
        """Profiles from a history table: entries filed, and outcomes known, strictly before `as_of`."""
        filed = frame[spec.timestamp] < as_of
        known = (outcome_times(frame, spec) < as_of).fillna(False).astype(bool)
        violated = known & (frame[spec.label].fillna(0) > 0)
        counts: dict[str, dict[str, tuple[int, int, int]]] = {}
        for entity in spec.entities:
            key = entity_key(frame, entity)
            table = pd.DataFrame({"e": filed, "i": known, "v": violated}).astype(int).groupby(key).sum()
            counts[spec.entity_name(entity)] = {
                k: (int(r.e), int(r.i), int(r.v)) for k, r in zip(table.index, table.itertuples())
            }
        return cls(spec, counts)

    def lookup(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Counts for each row; zeros for an unseen entity, missing where the row has no key."""
        out = {}
        for entity in self.spec.entities:
            name = self.spec.entity_name(entity)
            table = self.counts.get(name, {})
            key = entity_key(frame, entity)
            values = np.array(
                [table.get(k, (0, 0, 0)) if k is not pd.NA else (np.nan,) * 3 for k in key], dtype=float
            ).reshape(len(frame), 3)
            for j, c in enumerate(COUNTS):
                out[f"{name}__{c}"] = values[:, j]
        return pd.DataFrame(out, index=frame.index)
