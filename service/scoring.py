"""The Scorer: model inputs -> calibrated score, margin and every feature's SHAP contribution."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.pipeline import FeaturePipeline
from service.explain import Explainer
from training.model import ShipmentRiskModel
from training.registry import load_model

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """The registry has no such model, or it cannot be loaded."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int
    alias: str
    run_id: str


@dataclass(frozen=True)
class Scored:
    """One entry's score with its explanation in the model's margin (log-odds) space."""

    score: float
    raw_score: float
    base_value: float
    expected_revenue: float | None  # probability x revenue at stake if violating, when the model has a revenue part
    contributions: list[dict[str, Any]]
    reasons: list[dict[str, Any]]


@dataclass
class Scorer:
    """One loaded model version; immutable once built, so requests can share it."""

    model: ShipmentRiskModel
    ref: ModelRef
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.explainer = Explainer(self.model.pipeline)

    @property
    def pipeline(self) -> FeaturePipeline:
        return self.model.pipeline

    @classmethod
    def load(cls, tracking_uri: str, name: str, alias: str) -> Scorer:
        """Resolve `name@alias` to a version, then load exactly that version."""
        client = MlflowClient(tracking_uri, tracking_uri)
        try:
            version = client.get_model_version_by_alias(name, alias)
        except Exception as exc:  # MLflow raises its own errors for a missing model or alias
            raise ModelUnavailable(
                f"no model {name}@{alias} in {tracking_uri}: train one with `targeting train`"
            ) from exc
        import mlflow

        mlflow.set_registry_uri(tracking_uri)
        mlflow.set_tracking_uri(tracking_uri)
        model = load_model(f"models:/{name}/{version.version}")
        run_id = str(version.run_id)
        run = client.get_run(run_id)
        ref = ModelRef(name, int(version.version), alias, run_id)
        log.info("loaded model %s version %s (@%s)", name, version.version, alias)
        return cls(model, ref, dict(run.data.metrics), dict(run.data.params))

    def score(self, rows: pd.DataFrame, counts: pd.DataFrame, top: int) -> list[Scored]:
        """Score prepared rows given their history counts."""
        x = self.pipeline.transform(rows, counts).to_numpy(dtype=float)
        # one thread for small batches: waking OpenMP workers costs more than the work itself
        threads = 1 if len(x) < 64 else 0
        contrib = np.asarray(self.model.booster.predict(x, pred_contrib=True, num_threads=threads))
        raw = contrib.sum(axis=1)  # the margin is exactly the bias plus every contribution
        scores = self.model.calibration.probability(raw)
        revenue = self.model.revenue
        expected = scores * revenue.given_violation(x) if revenue is not None else np.full(len(x), np.nan)
        ctx = self.explainer.context(rows, counts)
        shown = self.explainer.display_values(ctx, x)
        names = self.pipeline.feature_names
        out = []
        for i in range(len(rows)):
            contributions = [
                {
                    "feature": f,
                    "value": shown[i][j],
                    "input": None if np.isnan(x[i, j]) else float(x[i, j]),
                    "contribution": float(contrib[i, j]),
                }
                for j, f in enumerate(names)
            ]
            order = np.argsort(-np.abs(contrib[i, :-1]), kind="stable")[:top]
            reasons = [
                {
                    "feature": names[j],
                    "value": shown[i][j],
                    "contribution": float(contrib[i, j]),
                    "effect": "raises risk" if contrib[i, j] > 0 else "lowers risk",
                    "sentence": self.explainer.sentence(j, ctx, i, shown[i][j]),
                }
                for j in order
            ]
            money = None if np.isnan(expected[i]) else float(expected[i])
            out.append(Scored(float(scores[i]), float(raw[i]), float(contrib[i, -1]), money, contributions, reasons))
        return out
