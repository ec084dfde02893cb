"""`targeting train`: fit a risk model on a declarations table and register it in MLflow."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features.history import point_in_time_counts
from features.pipeline import FeaturePipeline, prepare
from features.spec import BUILTIN_SPEC, DatasetSpec
from training import plots
from training.data import DataError, Split, fingerprint, read_table, time_split, validate
from training.evaluate import targeting_metrics
from training.fit import FitParams, fit_booster, fit_calibration, margins
from training.model import ShipmentRiskModel
from training.registry import MODEL_NAME, PROMOTION_METRIC, Registration, log_and_register, tracking_uri

log = logging.getLogger(__name__)
SHAP_SAMPLE = 2000


@dataclass(frozen=True)
class TrainResult:
    registration: Registration
    metrics: dict[str, float]
    split: Split


def _features(frame: pd.DataFrame, pipeline: FeaturePipeline, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Model inputs for validated rows; prepared rows and history are reused when the spec is the same."""
    spec = pipeline.spec
    key = spec.model_dump_json()
    if key not in cache:
        rows = prepare(frame, spec)
        cache[key] = rows.join(point_in_time_counts(rows, spec))
    rows = cache[key]
    return pipeline.transform(rows, rows)


def train(
    data: Path,
    spec: DatasetSpec = BUILTIN_SPEC,
    *,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
    params: FitParams = FitParams(),
) -> TrainResult:
    """Validate, split by time, fit, evaluate on the test window, log and register.

    Every check on the input runs before anything is written to MLflow.
    """
    frame = validate(read_table(data), spec)
    split = time_split(frame, spec, valid_frac, test_frac)
    train_m, valid_m, test_m = split.masks(frame[spec.timestamp])
    cache: dict[str, pd.DataFrame] = {}
    pipeline = FeaturePipeline.fit(prepare(frame[train_m], spec), spec)
    x = _features(frame, pipeline, cache)
    y = frame[spec.label].to_numpy(dtype=float)
    labelled = ~np.isnan(y)
    tr, va, te = train_m & labelled, valid_m & labelled, test_m & labelled
    booster = fit_booster(x[tr], y[tr], x[va], y[va], pipeline.categorical_features, params)
    calibration = fit_calibration(margins(booster, x[va]), y[va])
    scores = calibration.probability(margins(booster, x[te]))
    revenue = frame[spec.revenue].to_numpy(dtype=float)[te] if spec.revenue else None
    metrics = targeting_metrics(y[te], scores, revenue)
    metrics["brier"] = float(np.mean((scores - y[te]) ** 2))
    metrics |= {"best_iteration": float(booster.current_iteration()), "n_features": float(len(pipeline.feature_names))}

    def score_champion(champion: ShipmentRiskModel) -> float:
        try:
            x_champion = _features(frame, champion.pipeline, cache)[te]
        except KeyError as exc:
            raise DataError(
                f"the current {model_name}@champion cannot score this data (it needs column {exc}); "
                "train under another --model-name"
            ) from None
        return targeting_metrics(y[te], champion.predict(None, x_champion))[PROMOTION_METRIC]

    run_params = {
        **{f"lgb_{k}": v for k, v in asdict(params).items()},
        "data_path": str(data),
        "data_sha256": fingerprint(data),
        "rows_total": len(frame),
        "rows_labelled": int(labelled.sum()),
        "rows_train": int(tr.sum()),
        "rows_valid": int(va.sum()),
        "rows_test": int(te.sum()),
        "valid_from": split.valid_from.isoformat(),
        "test_from": split.test_from.isoformat(),
        "label_rate_train": round(float(y[tr].mean()), 6),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "dataset_spec.yaml").write_text(yaml.safe_dump(spec.model_dump(), sort_keys=False))
        (folder / "features.json").write_text(
            json.dumps({"features": pipeline.feature_names, "categorical": pipeline.categorical_features}, indent=1)
        )
        sample = x[te].sample(min(SHAP_SAMPLE, int(te.sum())), random_state=0)
        plots.shap_summary(booster, sample, folder / "shap_summary.png")
        plots.feature_importance(booster, folder / "feature_importance.png").to_csv(
            folder / "feature_importance.csv", index=False
        )
        plots.targeting_curve(y[te], scores, revenue, folder / "targeting_curve.png")
        registration = log_and_register(
            uri=uri or tracking_uri(),
            model_name=model_name,
            params=run_params,
            metrics=metrics,
            tags={"dataset": data.name, "spec": "builtin" if spec == BUILTIN_SPEC else "custom"},
            artifact_dir=folder,
            booster=booster,
            pipeline=pipeline,
            calibration=calibration,
            example=x[te].head(5),
            score_champion=score_champion,
        )
    return TrainResult(registration, metrics, split)
