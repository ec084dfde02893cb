"""LightGBM fitting: frames in, booster out. No I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from model.artifact import Calibration, RevenueModel


@dataclass(frozen=True)
class FitParams:
    """LightGBM settings for the risk model; every field is logged to MLflow."""

    learning_rate: float = 0.05
    num_leaves: int = 15  # bench/shape.py: 98 % of the best precision@5 % with 40 % of its leaves to explain
    max_depth: int = -1  # no cap: leaves per tree bound the shape (bench/shape.py)
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.9
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    cat_smooth: float = 10.0
    max_cat_to_onehot: int = 8
    max_rounds: int = 2000
    early_stopping_rounds: int = 100
    rounds: int | None = None  # exactly this many trees, no early stopping (the shape search's averaged stop)
    seed: int = 7
    num_threads: int = 0  # 0: LightGBM's default, a thread per core; 1 for many small fits (training/loop.py)

    def lgb_params(self) -> dict[str, Any]:
        params = asdict(self)
        for kept_out in ("max_rounds", "early_stopping_rounds", "rounds"):
            params.pop(kept_out)
        if not self.num_threads:
            params.pop("num_threads")
        return {
            **params,
            "objective": "binary",
            "metric": "average_precision",
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }


def fit_booster(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    categorical: list[str],
    params: FitParams,
    w_train: np.ndarray | None = None,
    w_valid: np.ndarray | None = None,
) -> lgb.Booster:
    """Fit with native categorical features, early-stopping on validation PR-AUC (or `params.rounds` trees);
    rows weighted if given."""
    train = lgb.Dataset(x_train, y_train, weight=w_train, categorical_feature=categorical, free_raw_data=False)
    if params.rounds is not None:
        return lgb.train(params.lgb_params(), train, num_boost_round=params.rounds)
    valid = lgb.Dataset(x_valid, y_valid, weight=w_valid, categorical_feature=categorical, reference=train)
    booster = lgb.train(
        params.lgb_params(),
        train,
        num_boost_round=params.max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    # Keep only the best iteration, so that every later prediction uses the model that was chosen.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


REVENUE_PARAMS = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}
MIN_VIOLATIONS_FOR_REVENUE = 30


def fit_revenue(
    x_train: pd.DataFrame,
    revenue_train: np.ndarray,
    x_valid: pd.DataFrame,
    revenue_valid: np.ndarray,
    categorical: list[str],
    seed: int,
    num_threads: int = 0,
) -> RevenueModel | None:
    """Revenue at stake given a violation, learned on violating rows only (log scale, smeared back).

    None when there are too few violations with a known revenue to learn from."""
    if len(revenue_train) < MIN_VIOLATIONS_FOR_REVENUE or len(revenue_valid) < 5:
        return None
    train = lgb.Dataset(x_train, np.log1p(revenue_train), categorical_feature=categorical, free_raw_data=False)
    valid = lgb.Dataset(x_valid, np.log1p(revenue_valid), categorical_feature=categorical, reference=train)
    booster = lgb.train(
        {**REVENUE_PARAMS, "seed": seed, **({"num_threads": num_threads} if num_threads else {})},
        train,
        num_boost_round=1000,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    residual = np.log1p(revenue_train) - booster.predict(x_train)
    return RevenueModel(booster, float(np.mean(np.exp(residual))))


def fit_calibration(margin: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Calibration:
    """Platt scaling fitted on held-out margins (the validation window), so that 0.3 means three in ten.

    With inverse selection-probability weights the inspected rows stand for every entry, so the
    probability is that of an entry drawn from all traffic, not from the inspected."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(margin).reshape(-1, 1), y, sample_weight=weight)
    return Calibration(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))


def margins(booster: lgb.Booster, x: pd.DataFrame) -> np.ndarray:
    """Raw scores (log-odds)."""
    return np.asarray(booster.predict(x, raw_score=True))
