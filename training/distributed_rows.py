"""Each partition's rows as the fit and the evaluation on the cluster read them (training/distributed.py): the
training rows with label and weight, the rows calibration and the yardsticks keep, model inputs, and the
single-process order."""

import numpy as np
import pandas as pd

from features.pipeline import FeaturePipeline
from features.spec import DatasetSpec
from training.data import Split, selection_weights

WINDOW, LABEL, WEIGHT = "__window", "__label", "__weight"


def window_of(part: pd.DataFrame, spec: DatasetSpec, split: Split) -> np.ndarray:
    """0, 1, 2: training, validation, test window."""
    _, valid, test = split.masks(part[spec.timestamp])
    return valid.astype(int) + 2 * test


def train_rows(part: pd.DataFrame, pipeline: FeaturePipeline, split: Split, weighted: bool) -> pd.DataFrame:
    """Model inputs of a partition's labelled training rows, with their label and weight."""
    spec = pipeline.spec
    rows = part[(window_of(part, spec, split) == 0) & part[spec.label].notna().to_numpy()]
    weights = selection_weights(rows, spec) if weighted else None
    return pipeline.transform(rows, rows).assign(
        **{LABEL: rows[spec.label].to_numpy(dtype=float), WEIGHT: np.ones(len(rows)) if weights is None else weights}
    )


def kept_rows(part: pd.DataFrame, spec: DatasetSpec, split: Split) -> pd.DataFrame:
    """What calibration, the revenue model and the inspected yardsticks read: inspected rows of the validation and
    test windows, and violations with revenue of the training window."""
    window, y = window_of(part, spec, split), part[spec.label]
    keep = y.notna().to_numpy() & (window > 0)
    if spec.revenue:
        keep |= (window == 0) & (y == 1).to_numpy() & (part[spec.revenue] > 0).to_numpy()
    return part[keep].assign(**{WINDOW: window[keep]})


def model_inputs(part: pd.DataFrame, pipeline: FeaturePipeline) -> pd.DataFrame:
    return pipeline.transform(part, part)


def time_ordered(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Rows in the single-process order: by time, then by row id."""
    return frame.sort_index().sort_values(spec.timestamp, kind="stable")
