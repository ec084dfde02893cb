"""What `prepare_training` learns from the whole table, computed exactly from the partitions of a Dask
dataframe: validation, the time split's order statistics, the feature pipeline's vocabularies, medians
and prior, and the point-in-time history (each entity's rows shuffled into one partition)."""

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from features.history import entity_key, point_in_time_counts
from features.pipeline import (
    MIN_CATEGORY_COUNT,
    MIN_REFERENCE_COUNT,
    OUTCOME_COLUMNS,
    FeaturePipeline,
    category_outcomes,
    category_text,
    choose_encodings,
    outcomes_by_vocab,
    prepare,
)
from features.spec import DatasetSpec
from training.choices import Weighting
from training.data import DataError, Split, validate
from training.distributed_rows import window_of

log = logging.getLogger(__name__)
CSV_LIMIT = 256 << 20  # bytes: the column types of a CSV file are inferred from all of it, read here
ROW, KEY = "__row", "__key"
SHIFT = 40  # row id = partition << SHIFT | place in the partition after sorting by time
HISTORY_FIELDS = ("derive", "timestamp", "label", "outcome_time", "label_delay_days", "entities")


def read_partitions(data: Path, partitions: int) -> dd.DataFrame:
    """A Parquet file or folder, or a CSV file, as at least `partitions` partitions in file order."""
    if not data.exists():
        raise DataError(f"data file {data} does not exist")
    suffix = data.suffix.lower()
    if not data.is_dir() and suffix not in (".parquet", ".csv", ".txt"):
        raise DataError(f"data file {data}: use .parquet (a file or a folder of them) or .csv to train on Dask")
    if suffix in (".csv", ".txt") and (size := data.stat().st_size) > CSV_LIMIT:
        raise DataError(f"data file {data}: over {CSV_LIMIT >> 20} MB of CSV: convert it to Parquet to train on Dask")
    try:  # pandas' own dtypes, not Dask's NA-valued strings: each partition then holds what `read_table` gives
        with dask.config.set({"dataframe.convert-string": False}):
            if data.is_dir() or suffix == ".parquet":
                frame = dd.read_parquet(str(data))
            else:  # the column types pandas infers from the whole file, as `read_table` does
                frame = dd.read_csv(str(data), sample=size + 1, sample_rows=None, low_memory=False, blocksize="64MB")
    except (OSError, ValueError) as exc:
        raise DataError(f"data file {data} could not be read: {str(exc).splitlines()[0]}") from None
    return frame.repartition(npartitions=partitions) if frame.npartitions < partitions else frame


def _clean(
    part: pd.DataFrame,
    spec: DatasetSpec,
    empty: pd.DataFrame | None = None,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One partition validated and prepared, its rows numbered; checks across partitions are the caller's."""
    if part.empty and empty is not None:
        return empty
    part, restore = part.assign(__at=np.arange(len(part))), {}
    if spec.label in part and part[spec.label].isna().all():
        # validate() refuses a table without labels, but a partition of recent entries may have none:
        # its first row is labelled (and given a selection probability) for the check, and restored after it
        part[spec.label] = part[spec.label].astype(object)
        part.iloc[0, part.columns.get_loc(spec.label)], restore[spec.label] = 0.0, np.nan
        chance = spec.selection_probability
        if chance and chance in part:
            raw = part[chance].iloc[0]
            value = float(pd.to_numeric(pd.Series([raw]), errors="coerce").iloc[0])
            if not 0 < value <= 1 and (pd.isna(raw) or not np.isnan(value)):  # a bad number still fails
                part[chance] = part[chance].astype(object)
                part.iloc[0, part.columns.get_loc(chance)], restore[chance] = 1.0, value
    out = validate(part, spec)
    out.loc[out["__at"] == 0, list(restore)] = list(restore.values())
    out = prepare(out.drop(columns="__at"), spec)
    out[ROW] = ((partition_info or {}).get("number", 0) << SHIFT) + np.arange(len(out), dtype="int64")
    for col in filter(None, (spec.timestamp, spec.outcome_time)):  # one resolution in every partition
        out[col] = out[col].astype("datetime64[ns, UTC]")
    return out


def load(data: Path, spec: DatasetSpec, partitions: int) -> dd.DataFrame:
    """Validated, prepared rows indexed by row id (known divisions): ordering by (time, row id) is the order of
    the single-process table."""
    raw = read_partitions(data, partitions)
    head = raw.partitions[0].map_partitions(pd.DataFrame.head, 1000).compute()
    if head.empty:
        raise DataError(f"data file {data} has no rows")
    meta = _clean(head, spec).iloc[:0]
    rows = raw.map_partitions(_clean, spec, empty=meta, meta=meta)
    n = rows.npartitions
    return rows.set_index(ROW, sorted=True, divisions=(*(i << SHIFT for i in range(n)), (n << SHIFT) - 1))


def _sample(values: pd.Series, size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Evenly spaced ranks in a partition's sorted values, the values there, and how many there are."""
    ordered = np.sort(values.to_numpy())
    at = np.unique(np.linspace(0, len(ordered) - 1, min(size, len(ordered))).astype(np.int64))
    return at, ordered[at], len(ordered)


def _order_stats(values: dd.Series, ranks: list[int], size: int = 1024) -> list[Any]:
    """The values at 0-based `ranks` of the sorted series, exactly. Samples of each partition's sorted values
    bound how many values lie below any sampled value; the band between bounds that must hold a rank is
    brought back and sorted (Dask's own quantiles are approximate and coarse)."""
    samples = dask.compute(*[dask.delayed(_sample)(part, size) for part in values.to_delayed()])
    grid = np.unique(np.concatenate([v for _, v, _ in samples]))
    below_most = np.zeros(len(grid), dtype=np.int64)  # at most this many values are below each grid value
    upto_least = np.zeros(len(grid), dtype=np.int64)  # at least this many are at or below it
    for at, v, m in samples:
        below_most += np.r_[at, m][np.searchsorted(v, grid, "left")]
        upto_least += np.r_[0, at + 1][np.searchsorted(v, grid, "right")]
    bands = []
    for rank in ranks:
        i, j = np.searchsorted(below_most, rank, "right") - 1, np.searchsorted(upto_least, rank, "right")
        lo: Any = grid[i] if i >= 0 else -np.inf  # grid values keep their dtype: int64 times stay exact
        hi: Any = grid[j] if j < len(grid) else np.inf
        bands.append(((values < lo).sum(), values[(values >= lo) & (values <= hi)]))
    return [np.sort(band.to_numpy())[rank - below] for rank, (below, band) in zip(ranks, dask.compute(*bands))]


def _labelled(part: pd.DataFrame, spec: DatasetSpec, split: Split) -> pd.Series:
    """Labelled rows per (window, label)."""
    labelled = part[spec.label].notna().to_numpy()
    return part[spec.label][labelled].groupby(window_of(part, spec, split)[labelled]).value_counts()


def time_split(
    rows: dd.DataFrame, spec: DatasetSpec, n: int, valid_frac: float, test_frac: float
) -> tuple[Split, pd.Series]:
    """`training.data.time_split` of `n` rows on partitions, with the labelled rows per (window, label)."""
    times = rows[spec.timestamp].astype("int64")
    first, last = dask.compute(times.min(), times.max())
    if spec.valid_from and spec.test_from:
        split = Split(pd.Timestamp(spec.valid_from), pd.Timestamp(spec.test_from))
        if not first < split.valid_from.value or not split.test_from.value <= last:
            span = f"{pd.Timestamp(first, tz='UTC'):%Y-%m-%d} to {pd.Timestamp(last, tz='UTC'):%Y-%m-%d}"
            raise DataError(f"valid_from and test_from must fall inside the data ({span})")
    else:
        if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
            raise DataError("valid and test fractions must be in (0, 1) and add up to less than 1")
        ranks = [int(n * (1 - valid_frac - test_frac)), int(n * (1 - test_frac))]
        split = Split(*(pd.Timestamp(int(t), tz="UTC") for t in _order_stats(times, ranks)))
    counts = rows.map_partitions(_labelled, spec, split).compute().groupby(level=[0, 1]).sum()
    if counts.empty:
        raise DataError(f"column {spec.label!r} has no labelled rows: nothing to learn from")
    for i, name in enumerate(("train", "validation", "test")):
        if i not in counts.index.get_level_values(0) or len(counts.loc[i]) < 2:
            raise DataError(f"the {name} window has no labelled rows of both classes: the data need a longer history")
    return split, counts


def _reference(part: pd.DataFrame, value: str, by: str) -> pd.DataFrame:
    v = part[value].astype(float)
    ok = np.isfinite(v) & (v > 0)
    return pd.DataFrame({KEY: category_text(part[by])[ok], "v": v[ok]}).dropna(subset=[KEY])


def _group_medians(part: pd.DataFrame) -> pd.Series:
    stats = part.groupby(KEY)["v"].agg(["median", "size"])
    return stats.loc[stats["size"] >= MIN_REFERENCE_COUNT, "median"].astype(float)


def _category_counts(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.concat({c: category_text(part[c]).value_counts() for c in columns}) if columns else pd.Series()


def _first_duplicate(part: pd.DataFrame, column: str) -> pd.DataFrame:
    return part[part[column].duplicated()].head(1)


def fit_pipeline(train: dd.DataFrame, spec: DatasetSpec) -> FeaturePipeline:
    """`FeaturePipeline.fit` on the prepared training rows, from aggregations; each group's median is exact
    because its rows are shuffled into one partition, and the global medians are exact order statistics."""
    counts = train.map_partitions(_category_counts, spec.categorical, meta=("count", int))
    outcomes = train.map_partitions(category_outcomes, spec, meta=OUTCOME_COLUMNS)
    medians = [
        [
            train.map_partitions(_reference, r.value, by, meta={KEY: "string", "v": float})
            .shuffle(KEY)
            .map_partitions(_group_medians, meta=("median", float))
            for by in r.by
        ]
        for r in spec.references
    ]
    values = [train[r.value].astype(float) for r in spec.references]
    values = [v[(v > 0) & (v < np.inf)] for v in values]  # finite and positive
    labels = train[spec.label]
    counts, outcomes, medians, sizes, labelled, violations = dask.compute(
        counts, outcomes, medians, [v.count() for v in values], labels.count(), labels.sum()
    )
    totals = counts.groupby(level=[0, 1]).sum()
    frequent = {key: float(n) for key, n in totals.items() if n >= MIN_CATEGORY_COUNT}
    vocab = {c: sorted(value for col, value in frequent if col == c) for c in spec.categorical}
    encodings = choose_encodings(spec, {c: len(v) for c, v in vocab.items()}, int(labelled))
    frequencies = {c: [frequent[c, v] for v in vocab[c]] for c in spec.categorical if encodings[c] == "frequency"}
    global_medians = {
        r.feature: float(np.median(_order_stats(v, [(n - 1) // 2, n // 2]))) if n else 1.0
        for r, v, n in zip(spec.references, values, sizes)
    }
    levels = {r.feature: [dict(sorted(m.to_dict().items())) for m in ms] for r, ms in zip(spec.references, medians)}
    prior = float(violations / labelled) if labelled else 0.0
    by_vocab = outcomes_by_vocab(outcomes, vocab)
    return FeaturePipeline(spec, vocab, levels, global_medians, prior, encodings, frequencies, by_vocab)


def _counts(part: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    return point_in_time_counts(part, spec).assign(**{ROW: part[ROW].to_numpy()})


def history(rows: dd.DataFrame, spec: DatasetSpec) -> dd.DataFrame:
    """The rows with `point_in_time_counts` joined: each entity's keyed rows are shuffled into one partition and
    counted there; rows without a key get none (missing), as in the single-process counts."""
    parts = []
    for entity in spec.entities:
        one = spec.model_copy(update={"entities": [entity]})
        cols = [spec.timestamp, spec.label, spec.outcome_time, *([entity] if isinstance(entity, str) else entity)]
        keys = rows.map_partitions(entity_key, entity, meta=(KEY, "string"))
        keyed = rows[list(dict.fromkeys(filter(None, cols)))].assign(**{KEY: keys}).dropna(subset=[KEY])
        keyed = keyed.reset_index().shuffle(KEY)
        counts = keyed.map_partitions(_counts, one, meta=_counts(keyed._meta, one))
        # persisted one by one: Dask's optimiser takes seconds over a plan of several shuffles of the same rows
        parts.append(counts.set_index(ROW, divisions=rows.divisions).persist())
    for counts in parts:
        rows = rows.join(counts, how="left")
    return rows


@dataclass
class DaskPrepared:
    """A validated, split table on the cluster, with its history counts and fitted pipeline."""

    data: Path
    spec: DatasetSpec
    rows: dd.DataFrame  # prepared rows with their history counts, indexed by row id
    n: int
    split: Split
    labelled: pd.Series  # labelled rows per (window, label)
    pipeline: FeaturePipeline
    weighting: Weighting
    began: float  # when preparing began (epoch seconds): the training run starts then


def prepare_dask(
    data: Path,
    spec: DatasetSpec,
    partitions: int,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
    weighting: Weighting = "none",
) -> DaskPrepared:
    """`prepare_training` on a cluster, up to the model inputs, which are built per partition when needed."""
    began = time.time()
    rows = load(data, spec, partitions).persist()
    duplicated = rows[[spec.id]].shuffle(spec.id).map_partitions(_first_duplicate, spec.id).compute()
    if len(duplicated):
        raise DataError(f"column {spec.id!r}: duplicate id {duplicated[spec.id].iloc[0]!r}")
    n = len(rows)
    split, labelled = time_split(rows, spec, n, valid_frac, test_frac)
    pipeline = fit_pipeline(rows[rows[spec.timestamp] < split.valid_from], spec)
    known = spec.selection_probability is not None and spec.selection_probability in rows.columns
    if weighting == "ipw" and not known:
        raise DataError("weighting 'ipw' needs the spec's selection_probability column")
    weighting = ("ipw" if known else "none") if weighting == "auto" else weighting
    return DaskPrepared(data, spec, history(rows, spec).persist(), n, split, labelled, pipeline, weighting, began)
