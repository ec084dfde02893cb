"""The registered model: LightGBM booster, fitted feature pipeline and calibration, as one MLflow pyfunc.

Its input is the feature frame (`FeaturePipeline.transform`), its output the calibrated violation
probability; the service unwraps it to reach the booster, pipeline and calibration directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.pipeline import FeaturePipeline
from model.drift import DriftReference

BOOSTER_FILE = "booster.txt"
PIPELINE_FILE = "pipeline.json"
CALIBRATION_FILE = "calibration.json"
REVENUE_BOOSTER_FILE = "revenue_booster.txt"
REVENUE_FILE = "revenue.json"
REFERENCE_FILE = "reference.json"


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the booster's margin: probability = sigmoid(slope * margin + intercept)."""

    slope: float = 1.0
    intercept: float = 0.0

    def probability(self, margin: Any) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * np.asarray(margin) + self.intercept))))


@dataclass(frozen=True)
class RevenueModel:
    """Revenue at stake if the entry violates: a booster on log revenue, with Duan's smearing factor."""

    booster: lgb.Booster
    smearing: float

    def given_violation(self, x: np.ndarray) -> np.ndarray:
        threads = 1 if len(x) < 64 else 0  # waking OpenMP workers costs a few rows far more than predicting
        return np.maximum(np.expm1(np.asarray(self.booster.predict(x, num_threads=threads))) * self.smearing, 0.0)


@dataclass(frozen=True)
class ModelParts:
    """Everything a registered model version is made of."""

    booster: lgb.Booster
    pipeline: FeaturePipeline
    calibration: Calibration
    revenue: RevenueModel | None = None
    reference: DriftReference | None = None  # the test window's distributions, for drift monitoring

    def save(self, folder: Path) -> dict[str, str]:
        """Write the model's files; returns the artifact map for `mlflow.pyfunc.log_model`."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER_FILE))
        (folder / PIPELINE_FILE).write_text(json.dumps(self.pipeline.to_dict(), indent=1, sort_keys=True))
        (folder / CALIBRATION_FILE).write_text(json.dumps(asdict(self.calibration)))
        files = {"booster": BOOSTER_FILE, "pipeline": PIPELINE_FILE, "calibration": CALIBRATION_FILE}
        if self.revenue is not None:
            self.revenue.booster.save_model(str(folder / REVENUE_BOOSTER_FILE))
            (folder / REVENUE_FILE).write_text(json.dumps({"smearing": self.revenue.smearing}))
            files |= {"revenue_booster": REVENUE_BOOSTER_FILE, "revenue": REVENUE_FILE}
        if self.reference is not None:
            (folder / REFERENCE_FILE).write_text(json.dumps(self.reference.to_dict(), indent=1))
            files |= {"reference": REFERENCE_FILE}
        return {name: str(folder / file) for name, file in files.items()}


class ShipmentRiskModel(PythonModel):  # type: ignore[misc]
    """Scores feature frames; carries the pipeline that builds them."""

    booster: lgb.Booster
    pipeline: FeaturePipeline
    calibration: Calibration
    revenue: RevenueModel | None
    reference: DriftReference | None = None  # also for instances assembled by hand, without load_context

    def load_context(self, context: Any) -> None:
        files = context.artifacts
        self.booster = lgb.Booster(model_file=files["booster"])
        self.pipeline = FeaturePipeline.from_dict(json.loads(Path(files["pipeline"]).read_text()))
        self.calibration = Calibration(**json.loads(Path(files["calibration"]).read_text()))
        self.revenue = None
        if "revenue_booster" in files:
            smearing = json.loads(Path(files["revenue"]).read_text())["smearing"]
            self.revenue = RevenueModel(lgb.Booster(model_file=files["revenue_booster"]), smearing)
        # versions saved before drift monitoring have no reference; they load and serve all the same
        self.reference = None
        if "reference" in files:
            self.reference = DriftReference.from_dict(json.loads(Path(files["reference"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        """Calibrated violation probabilities for a frame of model inputs."""
        x = model_input[self.pipeline.feature_names].to_numpy(dtype=float)
        return self.calibration.probability(self.booster.predict(x, raw_score=True))
