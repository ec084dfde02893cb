"""`targeting train --dask`, end to end: prepare on the cluster, fit and evaluate (training/distributed.py), then log
the run and register the model as `targeting train` does, saying it ran on Dask."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from distributed import Client

from features.pipeline import encoding_warnings
from features.spec import BUILTIN_SPEC, DatasetSpec
from model.artifact import ShipmentRiskModel
from training.artifacts import run_facts, write_run_artifacts
from training.choices import Weighting
from training.data import DataError, fingerprint
from training.distributed import EVAL_ROWS, ROUNDS, DaskFitted, fit_and_evaluate_dask
from training.distributed_data import HISTORY_FIELDS, DaskPrepared, prepare_dask
from training.evaluate import targeting_metrics
from training.fit import FitParams
from training.registry import MODEL_NAME, PROMOTION_METRIC, Registration, log_and_register, run_name, tracking_uri
from training.train import TrainResult

log = logging.getLogger(__name__)


def _fingerprint(data: Path) -> str:
    """SHA-256 of the file, or of its files' names and digests for a folder."""
    if data.is_file():
        return fingerprint(data)
    files = sorted(f for f in data.rglob("*") if f.is_file())
    return hashlib.sha256("".join(f"{f.relative_to(data)}:{fingerprint(f)}\n" for f in files).encode()).hexdigest()


def register_dask(
    client: Client,
    p: DaskPrepared,
    fitted: DaskFitted,
    params: FitParams,
    *,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    warnings: Sequence[str] = (),
) -> Registration:
    """Log the run as `register` does, saying it ran on Dask (with `warnings` logged and tagged), and register the
    model."""
    spec, te = p.spec, fitted.inspected
    x_te, y_te = p.pipeline.transform(te, te), te[spec.label].to_numpy(dtype=float)

    def score_champion(champion: ShipmentRiskModel) -> float:
        if any(getattr(champion.pipeline.spec, f) != getattr(spec, f) for f in HISTORY_FIELDS):
            raise DataError(
                f"the current {model_name}@champion counts account history differently (another dataset "
                "spec); train under another --model-name"
            )
        try:
            x_champion = champion.pipeline.transform(te, te)
        except KeyError as exc:
            raise DataError(
                f"the current {model_name}@champion cannot score this data (it needs column {exc}); "
                "train under another --model-name"
            ) from None
        return targeting_metrics(y_te, champion.probability(x_champion))[PROMOTION_METRIC]

    labelled = p.labelled.groupby(level=0).sum()
    run_params = {
        **{f"lgb_{k}": v for k, v in asdict(params).items()},
        "data_path": str(p.data),
        "data_sha256": _fingerprint(p.data),
        "rows_total": p.n,
        "rows_labelled": int(labelled.sum()),
        "rows_train": int(labelled[0]),
        "rows_valid": int(labelled[1]),
        "rows_test": int(labelled[2]),
        "valid_from": p.split.valid_from.isoformat(),
        "test_from": p.split.test_from.isoformat(),
        "label_rate_train": round(p.pipeline.prior_rate, 6),
        "weighting": p.weighting,
        **{f"encoding_{c}": e for c, e in p.pipeline.encodings.items()},
        "engine": "dask",
        "dask_scheduler": client.scheduler_info()["address"],
        "dask_workers": len(client.scheduler_info()["workers"]),
        "dask_partitions": p.rows.npartitions,
        "test_entries_evaluated": round(fitted.share, 6),
    }
    for warning in warnings:
        log.warning(warning)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = f"Dask, {run_params['dask_workers']} workers at {run_params['dask_scheduler']}"
        facts = run_facts(p.data, run_params["data_sha256"], p.n, p.split.test_from, p.weighting) | {"engine": engine}
        write_run_artifacts(
            folder, model_name, spec, fitted.parts, x_te, fitted.window, fitted.x, fitted.scores, fitted.metrics, facts
        )
        return log_and_register(
            uri=uri or tracking_uri(),
            model_name=model_name,
            params=run_params,
            metrics=fitted.metrics,
            tags={"dataset": p.data.name, "spec": "builtin" if spec == BUILTIN_SPEC else "custom", "engine": "dask"}
            | ({"warnings": "\n".join(warnings)} if warnings else {}),
            artifact_dir=folder,
            parts=fitted.parts,
            score_champion=score_champion,
            run_name=run_name("train on dask", p.data, p.n),
            began=p.began,
        )


def train_dask(
    data: Path,
    client: Client,
    spec: DatasetSpec = BUILTIN_SPEC,
    *,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
    params: FitParams = FitParams(max_rounds=ROUNDS),
    weighting: Weighting = "none",
    eval_rows: int = EVAL_ROWS,
) -> TrainResult:
    """`training.train.train` on the Dask cluster of `client`: the same checks, split, features, model and run.

    Every check on the input runs before anything is written to MLflow.
    """
    workers = len(client.scheduler_info()["workers"])
    prepared = prepare_dask(data, spec, 2 * workers, valid_frac, test_frac, weighting)
    fitted = fit_and_evaluate_dask(client, prepared, params, eval_rows)
    warnings = encoding_warnings(prepared.pipeline, int(prepared.labelled.loc[0].sum()))  # window 0: training
    registration = register_dask(client, prepared, fitted, params, model_name=model_name, uri=uri, warnings=warnings)
    return TrainResult(registration, fitted.metrics, prepared.split, warnings, params)
