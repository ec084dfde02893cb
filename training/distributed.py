"""`targeting train --dask`: the model `targeting train` registers, fitted and evaluated on a Dask cluster (the run
is logged and the model registered by training/distributed_run.py).

What `prepare_training` learns from the whole table is computed exactly from partitions: the split's
order statistics, the feature pipeline's vocabularies, medians and prior, and the point-in-time history
(each entity's rows shuffled into one partition). LightGBM trains data-parallel on the labelled rows of
the training window where they lie; lightgbm.dask cannot stop early, so it trains `max_rounds` and the
validation window then keeps the iteration that early stopping would have kept. Inspected rows are few,
so calibration, the revenue model and the evaluation run in memory on them and on the test window, or on
a uniform sample of that window when it holds more than `eval_rows` entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client
from lightgbm.dask import DaskLGBMRegressor
from sklearn.metrics import average_precision_score

from features.spec import DatasetSpec
from model.artifact import ModelParts
from model.drift import build_reference
from training.cost import explanation_cost
from training.data import selection_weights
from training.distributed_data import DaskPrepared
from training.distributed_rows import LABEL, WEIGHT, WINDOW, kept_rows, model_inputs, time_ordered, train_rows
from training.evaluate import default_slices, window_yardsticks
from training.fit import FitParams, fit_calibration, fit_revenue, margins

log = logging.getLogger(__name__)
ROUNDS = 500  # lightgbm.dask trains every round; the single-process fits stop after tens to a few hundred
EVAL_ROWS = 1_000_000  # test-window entries brought back to be scored against the ground truth


def fit_booster_dask(client: Client, p: DaskPrepared, params: FitParams) -> lgb.Booster:
    """LightGBM trained data-parallel, `params.max_rounds` rounds, on the labelled training rows where they lie."""
    weighted = p.weighting == "ipw"
    meta = train_rows(p.rows._meta, p.pipeline, p.split, weighted)
    train = p.rows.map_partitions(train_rows, p.pipeline, p.split, weighted, meta=meta).persist()  # where rows are
    sizes = train.map_partitions(len).compute()
    info = client.scheduler_info()["workers"]
    workers = sorted(info, key=lambda address: (str(info[address].get("name")), address))
    # The data-parallel model depends on which rows each worker holds: each gets one part, a fixed run of the
    # labelled training rows (only these small parts move).
    # It also depends on the workers' ranks, which lightgbm.dask takes in the order the scheduler lists them, so a
    # rerun on the same data may still train another of (workers)! models (two, of similar quality, on 2 workers).
    runs = [run for run in np.array_split([i for i, size in enumerate(sizes) if size], len(workers)) if len(run)]
    train = dd.concat(
        [
            client.persist(
                train.partitions[list(run)].repartition(npartitions=1), workers=[w], allow_other_workers=False
            )
            for run, w in zip(runs, workers)
        ]
    )
    # The classifier's label encoder runs on each worker: one holding only violations would learn them as 0.
    # The regressor with the binary objective trains the same booster without it.
    # time_out (minutes, 120 by default): a worker that cannot reach the others fails the run instead of stalling it
    for attempt in (1, 2):
        model = DaskLGBMRegressor(client=client, n_estimators=params.max_rounds, time_out=3, **params.lgb_params())
        try:
            model.fit(
                train[p.pipeline.feature_names],
                train[LABEL],
                sample_weight=train[WEIGHT] if weighted else None,
                categorical_feature=p.pipeline.categorical_features,
            )
            break
        except lgb.basic.LightGBMError:  # seen once in tens of fits: the workers' network set-up timed out
            if attempt == 2:
                raise
            log.warning("LightGBM's workers could not connect; training once more")
    return lgb.Booster(model_str=model.booster_.model_to_string())


def early_stopped(
    booster: lgb.Booster, x: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, patience: int
) -> lgb.Booster:
    """The booster cut where `lgb.early_stopping(patience)` on validation average precision would have cut it."""
    margin, best, kept = np.zeros(len(y)), -np.inf, 0
    for i in range(booster.current_iteration()):
        margin += np.asarray(booster.predict(x, start_iteration=i, num_iteration=1, raw_score=True))
        score = average_precision_score(y, margin, sample_weight=w)
        if score > best:
            best, kept = score, i + 1
        elif i + 1 - kept >= patience:
            break
    if kept > booster.current_iteration() - patience:
        log.warning("the best iteration %d is within %d rounds of the last: more rounds may help", kept, patience)
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=kept))


def _window_columns(spec: DatasetSpec, available: list[str]) -> list[str]:
    cols = [
        spec.timestamp,
        spec.label,
        spec.revenue,
        spec.selection,
        spec.selection_probability,
        *(spec.truth.columns if spec.truth else []),
        *default_slices(spec),
    ]
    return [c for c in dict.fromkeys(cols) if c and c in available]


def _entry_yardsticks(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.removeprefix("by_revenue_").startswith(("all_", "oracle_"))}


@dataclass(frozen=True)
class DaskFitted:
    parts: ModelParts
    metrics: dict[str, float]
    window: pd.DataFrame  # the test window's entries (or a uniform sample of them), the columns evaluation reads
    x: pd.DataFrame  # their model inputs
    scores: np.ndarray
    inspected: pd.DataFrame  # the inspected entries of the test window: prepared rows with history counts
    share: float  # of the test window's entries in `window`


def fit_and_evaluate_dask(client: Client, p: DaskPrepared, params: FitParams, eval_rows: int = EVAL_ROWS) -> DaskFitted:
    """Fit the booster on the cluster; calibration, revenue model and yardsticks in memory, as `fit_and_evaluate`."""
    spec, pipeline = p.spec, p.pipeline
    booster = fit_booster_dask(client, p, params)
    kept = time_ordered(
        p.rows.map_partitions(kept_rows, spec, p.split, meta=kept_rows(p.rows._meta, spec, p.split)).compute(), spec
    )
    x, y, window = pipeline.transform(kept, kept), kept[spec.label].to_numpy(dtype=float), kept[WINDOW].to_numpy()
    ipw = selection_weights(kept, spec)
    va, te = ~np.isnan(y) & (window == 1), ~np.isnan(y) & (window == 2)
    w = ipw if p.weighting == "ipw" else None
    booster = early_stopped(booster, x[va], y[va], None if w is None else w[va], params.early_stopping_rounds)
    calibration = fit_calibration(margins(booster, x[va]), y[va], None if ipw is None else ipw[va])
    revenue = None
    if spec.revenue:
        money = kept[spec.revenue].to_numpy(dtype=float)
        paid = (y == 1) & (money > 0)
        train_paid, valid_paid = paid & (window == 0), paid & (window == 1)
        revenue = fit_revenue(
            x[train_paid],
            money[train_paid],
            x[valid_paid],
            money[valid_paid],
            pipeline.categorical_features,
            params.seed,
        )
    test = p.rows[p.rows[spec.timestamp] >= p.split.test_from]
    share = min(1.0, eval_rows / len(test))
    if share < 1:
        test = test.sample(frac=share, random_state=0)
    cols = _window_columns(spec, list(p.rows.columns))
    inputs = test.map_partitions(model_inputs, pipeline, meta=model_inputs(test._meta, pipeline))
    entries, x_entries = dask.compute(test[cols], inputs)
    entries = time_ordered(entries, spec)
    x_entries = x_entries.loc[entries.index]
    scores = calibration.probability(margins(booster, x_entries))
    metrics = window_yardsticks(entries, spec, scores, revenue, x_entries)
    inspected_scores = calibration.probability(margins(booster, x[te]))
    if share < 1:  # the sample stands for every entry; the inspected entries are all here, so theirs stay exact
        truth = spec.truth.columns if spec.truth else []
        inspected = kept[te][[c for c in cols if c not in truth]]
        metrics = _entry_yardsticks(metrics) | window_yardsticks(inspected, spec, inspected_scores, revenue, x[te])
    metrics["brier"] = float(np.mean((inspected_scores - y[te]) ** 2))
    metrics |= {"best_iteration": float(booster.current_iteration()), "n_features": float(len(pipeline.feature_names))}
    metrics |= explanation_cost(booster, x_entries.to_numpy(dtype=float), seconds=0.3)  # as every training run
    window_text = f"test window from {p.split.test_from:%Y-%m-%d}, {len(x_entries):,} entries"
    if share < 1:
        window_text += f" (a uniform sample of {share:.1%} of the window)"
    reference = build_reference(x_entries, scores, pipeline.categorical_features, window=window_text)
    parts = ModelParts(booster, pipeline, calibration, revenue, reference)
    return DaskFitted(parts, metrics, entries, x_entries, scores, kept[te], share)
