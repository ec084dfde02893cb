"""`targeting train`: fit a risk model on a declarations table and register it in MLflow."""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset, from_pandas

from features.history import point_in_time_counts
from features.pipeline import FeaturePipeline, encoding_warnings, prepare
from features.spec import BUILTIN_SPEC, DatasetSpec
from model.artifact import ModelParts, ShipmentRiskModel
from model.drift import build_reference
from training import baseline
from training.artifacts import run_facts, write_run_artifacts
from training.choices import Shape, Weighting
from training.cost import explanation_cost
from training.data import DataError, Split, fingerprint, read_table, selection_weights, time_split, validate
from training.evaluate import targeting_metrics, window_yardsticks
from training.fit import FitParams, fit_booster, fit_calibration, fit_revenue, margins
from training.registry import MODEL_NAME, PROMOTION_METRIC, Registration, log_and_register, run_name, tracking_uri
from training.shape import HeldOut, Search, search

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    registration: Registration
    metrics: dict[str, float]
    split: Split
    warnings: list[str]  # what the person training should know before trusting the model
    params: FitParams  # the settings the model was fitted with (its shape chosen, unless fixed)


def _features(frame: pd.DataFrame, pipeline: FeaturePipeline, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Model inputs for validated rows; prepared rows and history are reused when the spec is the same."""
    spec = pipeline.spec
    key = spec.model_dump_json()
    if key not in cache:
        rows = prepare(frame, spec)
        cache[key] = rows.join(point_in_time_counts(rows, spec))
    rows = cache[key]
    return pipeline.transform(rows, rows)


def evaluate_model(
    model: ShipmentRiskModel, data: Path, valid_frac: float = 0.15, test_frac: float = 0.15
) -> dict[str, float]:
    """Every test-window yardstick of a trained model on a dataset, with the model's own spec and
    the dataset's split (the spec's cut-off dates, else the fractions): two models evaluated on the
    same data are compared on the same window."""
    spec = model.pipeline.spec
    frame = validate(read_table(data), spec)
    split = time_split(frame, spec, valid_frac, test_frac)
    test = split.masks(frame[spec.timestamp])[2]
    x = _features(frame, model.pipeline, {})[test]
    return window_yardsticks(frame[test], spec, model.probability(x), model.revenue, x)


@dataclass
class Prepared:
    """A validated, split dataset with its model inputs: what every fit on it shares."""

    data: Path
    spec: DatasetSpec
    frame: pd.DataFrame
    split: Split
    masks: tuple[np.ndarray, np.ndarray, np.ndarray]  # train, validation, test windows
    pipeline: FeaturePipeline
    x: pd.DataFrame
    y: np.ndarray
    ipw: np.ndarray | None  # 1 / selection probability, when the data give it
    weighting: Weighting  # what the fit uses: "none" or "ipw"
    cache: dict[str, pd.DataFrame]
    began: float  # when preparing began (epoch seconds): the training run starts then
    warnings: list[str]

    def labelled(self, mask: np.ndarray) -> np.ndarray:
        return mask & ~np.isnan(self.y)

    @property
    def fit_weights(self) -> np.ndarray | None:
        return self.ipw if self.weighting == "ipw" else None

    @property
    def rows(self) -> pd.DataFrame:
        """The prepared rows (derived columns, history counts) the model inputs were built from."""
        return self.cache[self.spec.model_dump_json()]


@dataclass(frozen=True)
class Fitted:
    parts: ModelParts
    test_scores: np.ndarray  # every entry of the test window
    metrics: dict[str, float]
    warnings: list[str]
    rows_fit: int  # labelled rows the booster was fitted on


def prepare_training(
    data: Path, spec: DatasetSpec, valid_frac: float = 0.15, test_frac: float = 0.15, weighting: Weighting = "none"
) -> Prepared:
    """Validate and split the data, fit the feature pipeline on the training window, build every model input."""
    began = time.time()
    frame = validate(read_table(data), spec)
    split = time_split(frame, spec, valid_frac, test_frac)
    masks = split.masks(frame[spec.timestamp])
    cache: dict[str, pd.DataFrame] = {}
    pipeline = FeaturePipeline.fit(prepare(frame[masks[0]], spec), spec)
    x = _features(frame, pipeline, cache)
    ipw = selection_weights(frame, spec)
    if weighting == "ipw" and ipw is None:
        raise DataError("weighting 'ipw' needs the spec's selection_probability column")
    if weighting == "auto":  # ipw where the data give selection probabilities; not the default (bench/defaults.py)
        weighting = "none" if ipw is None else "ipw"
    y = frame[spec.label].to_numpy(dtype=float)
    warnings = encoding_warnings(pipeline, int((masks[0] & ~np.isnan(y)).sum()))
    return Prepared(data, spec, frame, split, masks, pipeline, x, y, ipw, weighting, cache, began, warnings)


def fit_and_evaluate(p: Prepared, params: FitParams, held_out: HeldOut | None = None) -> Fitted:
    """Fit booster, calibration and revenue model; evaluate every yardstick of the test window.

    Without `held_out` the booster fits on the training window, stops early on the validation window and is
    calibrated there. With it (a searched shape, `params.rounds` trees) the booster fits on both windows and is
    calibrated, and compared with the baseline, on the held-out margins of the search's fold models."""
    train_m, valid_m, test_m = p.masks
    tr, va, te = p.labelled(train_m), p.labelled(valid_m), p.labelled(test_m)
    x, y, w = p.x, p.y, p.fit_weights
    fit = tr if held_out is None else tr | va
    booster = fit_booster(
        x[fit],
        y[fit],
        x[va],
        y[va],
        p.pipeline.categorical_features,
        params,
        None if w is None else w[fit],
        None if w is None else w[va],
    )
    if held_out is None:
        rows, margin = np.flatnonzero(va), margins(booster, x[va])
    else:
        rows, margin = held_out.rows, held_out.margin
    valid_margin = margin[: int(va.sum())]  # the validation window's rows come first
    calibration = fit_calibration(margin, y[rows], None if p.ipw is None else p.ipw[rows])
    test_scores = calibration.probability(margins(booster, x[test_m]))  # every entry of the window
    revenue_model = None
    if p.spec.revenue:
        money = p.frame[p.spec.revenue].to_numpy(dtype=float)
        paid = (y == 1) & (money > 0)
        revenue_model = fit_revenue(
            x[train_m & paid],
            money[train_m & paid],
            x[valid_m & paid],
            money[valid_m & paid],
            p.pipeline.categorical_features,
            params.seed,
        )
    metrics = window_yardsticks(p.frame[test_m], p.spec, test_scores, revenue_model, x[test_m])
    metrics["brier"] = float(np.mean((test_scores[~np.isnan(y[test_m])] - y[te]) ** 2))
    metrics |= {
        "best_iteration": float(booster.current_iteration()),
        "n_features": float(len(p.pipeline.feature_names)),
    }
    measured, warnings = baseline.measure(p.rows, p.spec, p.masks, y, w, params.seed, valid_margin)
    metrics |= measured
    # the latency this shape costs per entry, so that it is weighed with the quality (bench/shape.py)
    metrics |= explanation_cost(booster, x[test_m].to_numpy(dtype=float), seconds=0.3)
    # what the service's drift monitor compares recent decisions with: the traffic the model was judged on
    window = f"test window from {p.split.test_from:%Y-%m-%d}, {int(test_m.sum()):,} entries"
    reference = build_reference(x[test_m], test_scores, p.pipeline.categorical_features, window=window)
    parts = ModelParts(booster, p.pipeline, calibration, revenue_model, reference)
    return Fitted(parts, test_scores, metrics, warnings, int(fit.sum()))


def register(
    p: Prepared,
    fitted: Fitted,
    params: FitParams,
    *,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    alias: str | None = None,
    nested: bool = False,
    search: Search | None = None,
) -> Registration:
    """Log the run (params, metrics, figures, report, model, and the shape `search` if one chose the shape) and
    register the model in MLflow."""
    spec, frame, split, x, y = p.spec, p.frame, p.split, p.x, p.y
    train_m, valid_m, test_m = p.masks
    te = p.labelled(test_m)
    metrics, test_scores = fitted.metrics, fitted.test_scores

    def score_champion(champion: ShipmentRiskModel) -> float:
        try:
            x_champion = _features(frame, champion.pipeline, p.cache)[te]
        except KeyError as exc:
            raise DataError(
                f"the current {model_name}@champion cannot score this data (it needs column {exc}); "
                "train under another --model-name"
            ) from None
        return targeting_metrics(y[te], champion.probability(x_champion))[PROMOTION_METRIC]

    run_params = {
        **{f"lgb_{k}": v for k, v in asdict(params).items()},
        "data_path": str(p.data),
        "data_sha256": fingerprint(p.data),
        "rows_total": len(frame),
        "rows_labelled": int((~np.isnan(y)).sum()),
        "rows_train": int(p.labelled(train_m).sum()),
        "rows_valid": int(p.labelled(valid_m).sum()),
        "rows_test": int(te.sum()),
        "rows_fit": fitted.rows_fit,  # training window, and validation window too once the shape is searched
        "valid_from": split.valid_from.isoformat(),
        "test_from": split.test_from.isoformat(),
        "label_rate_train": round(float(np.nanmean(y[train_m])), 6),
        "weighting": p.weighting,
        **{f"encoding_{c}": e for c, e in p.pipeline.encodings.items()},
        "shape": "fixed" if search is None else "search",
    }
    warnings = p.warnings + fitted.warnings
    for warning in warnings:
        log.warning(warning)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        facts = run_facts(p.data, run_params["data_sha256"], len(frame), split.test_from, p.weighting)
        write_run_artifacts(
            folder, model_name, spec, fitted.parts, x[te], frame[test_m], x[test_m], test_scores, metrics, facts
        )
        if search is not None:  # every shape tried, with its folds' mean and spread
            search.table.to_csv(folder / "shape_search.csv", index=False)
        return log_and_register(
            uri=uri or tracking_uri(),
            model_name=model_name,
            params=run_params,
            metrics=metrics,
            tags={"dataset": p.data.name, "spec": "builtin" if spec == BUILTIN_SPEC else "custom"}
            | ({"warnings": "\n".join(warnings)} if warnings else {}),
            artifact_dir=folder,
            parts=fitted.parts,
            dataset=training_dataset(frame, p.data, run_params["data_sha256"]),
            score_champion=score_champion,
            alias=alias,
            nested=nested,
            run_name=run_name("train", p.data, len(frame)),
            began=p.began,
        )


def training_dataset(frame: pd.DataFrame, data: Path, sha256: str) -> PandasDataset:
    """The training table as an MLflow dataset, logged as the run's input: its file, rows, schema and digest."""
    with warnings.catch_warnings():  # MLflow registers the local file source twice and says so on every call
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        return from_pandas(frame, source=str(data.resolve()), name=data.name, digest=sha256[:16])


def train(
    data: Path,
    spec: DatasetSpec = BUILTIN_SPEC,
    *,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
    params: FitParams = FitParams(),
    weighting: Weighting = "none",
    shape: Shape = "search",
) -> TrainResult:
    """Validate, split by time, choose the model's shape (`search`; `fixed`: `params` as given), fit, evaluate on
    the test window, log and register.

    Every check on the input runs before anything is written to MLflow.
    """
    prepared = prepare_training(data, spec, valid_frac, test_frac, weighting)
    searched = choose_shape(prepared, params) if shape == "search" else None
    params = params if searched is None else searched.chosen
    fitted = fit_and_evaluate(prepared, params, None if searched is None else searched.held_out)
    if searched is not None:
        fitted.metrics["shape_search_seconds"] = searched.seconds
    registration = register(prepared, fitted, params, model_name=model_name, uri=uri, search=searched)
    return TrainResult(registration, fitted.metrics, prepared.split, prepared.warnings + fitted.warnings, params)


def choose_shape(p: Prepared, base: FitParams) -> Search:
    """The shape search (training/shape.py) over the prepared training and validation windows."""
    times = p.frame[p.spec.timestamp].astype("int64").to_numpy()
    train_m, valid_m, _ = p.masks
    return search(p.x, p.y, times, (train_m, valid_m), p.pipeline.categorical_features, base, p.fit_weights)
