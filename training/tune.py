"""`targeting tune`: an Optuna search over LightGBM settings, every trial a nested MLflow run.

Trials are judged on the validation window (PR-AUC, weighted like the fit), never on the test
window, which stays untouched for the final model; the best settings are then fitted, evaluated on
the test window and registered as challenger, to become champion only through the promotion gate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from sklearn.metrics import average_precision_score

from features.spec import BUILTIN_SPEC, DatasetSpec
from training.choices import Weighting
from training.fit import FitParams, fit_booster, margins
from training.registry import CHALLENGER, MODEL_NAME, Registration, log_trial, tracking_uri, tuning_run
from training.train import fit_and_evaluate, prepare_training, register


@dataclass(frozen=True)
class TuneResult:
    best: FitParams
    best_value: float
    trials: int
    registration: Registration
    metrics: dict[str, float]


def _suggest(trial: optuna.Trial, base: FitParams) -> FitParams:
    return replace(
        base,
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        num_leaves=trial.suggest_int("num_leaves", 7, 127, log=True),
        min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
        feature_fraction=trial.suggest_float("feature_fraction", 0.5, 1.0),
        lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    )


def tune(
    data: Path,
    spec: DatasetSpec = BUILTIN_SPEC,
    *,
    trials: int = 20,
    model_name: str = MODEL_NAME,
    uri: str | None = None,
    valid_frac: float = 0.15,
    test_frac: float = 0.15,
    weighting: Weighting = "none",
    seed: int = 7,
) -> TuneResult:
    """Search, then register the best settings' model as challenger (champion if there is none)."""
    p = prepare_training(data, spec, valid_frac, test_frac, weighting)
    train_m, valid_m, _ = p.masks
    tr, va = p.labelled(train_m), p.labelled(valid_m)
    w = p.fit_weights
    base = FitParams(seed=seed)
    uri = uri or tracking_uri()

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, base)
        booster = fit_booster(
            p.x[tr],
            p.y[tr],
            p.x[va],
            p.y[va],
            p.pipeline.categorical_features,
            params,
            None if w is None else w[tr],
            None if w is None else w[va],
        )
        value = float(
            average_precision_score(p.y[va], margins(booster, p.x[va]), sample_weight=None if w is None else w[va])
        )
        log_trial(trial.number, trial.params, {"valid_pr_auc": value, "best_iteration": booster.current_iteration()})
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    with tuning_run(uri, f"tune-{model_name}", {"trials": trials, "data_path": str(data), "weighting": p.weighting}):
        study.optimize(objective, n_trials=trials)
        best = replace(base, **study.best_params)
        fitted = fit_and_evaluate(p, best)
        registration = register(p, fitted, best, model_name=model_name, uri=uri, alias=CHALLENGER, nested=True)
    return TuneResult(best, float(study.best_value), trials, registration, fitted.metrics)
