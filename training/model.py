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

BOOSTER_FILE = "booster.txt"
PIPELINE_FILE = "pipeline.json"
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the booster's margin: probability = sigmoid(slope * margin + intercept)."""

    slope: float = 1.0
    intercept: float = 0.0

    def probability(self, margin: Any) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * np.asarray(margin) + self.intercept))))


def save_artifacts(
    booster: lgb.Booster, pipeline: FeaturePipeline, calibration: Calibration, folder: Path
) -> dict[str, str]:
    """Write the model's files; returns the artifact map for `mlflow.pyfunc.log_model`."""
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / BOOSTER_FILE))
    (folder / PIPELINE_FILE).write_text(json.dumps(pipeline.to_dict(), indent=1, sort_keys=True))
    (folder / CALIBRATION_FILE).write_text(json.dumps(asdict(calibration)))
    return {
        "booster": str(folder / BOOSTER_FILE),
        "pipeline": str(folder / PIPELINE_FILE),
        "calibration": str(folder / CALIBRATION_FILE),
    }


class ShipmentRiskModel(PythonModel):  # type: ignore[misc]
    """Scores feature frames; carries the pipeline that builds them."""

    booster: lgb.Booster
    pipeline: FeaturePipeline
    calibration: Calibration

    def load_context(self, context: Any) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.pipeline = FeaturePipeline.from_dict(json.loads(Path(context.artifacts["pipeline"]).read_text()))
        self.calibration = Calibration(**json.loads(Path(context.artifacts["calibration"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        """Calibrated violation probabilities for a frame of model inputs."""
        x = model_input[self.pipeline.feature_names].to_numpy(dtype=float)
        return self.calibration.probability(self.booster.predict(x, raw_score=True))
