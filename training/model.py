"""The registered model: a LightGBM booster plus the fitted feature pipeline, as one MLflow pyfunc.

Its input is the feature frame (`FeaturePipeline.transform`), its output the violation
probability; the service unwraps it to reach the booster and pipeline directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.pipeline import FeaturePipeline

BOOSTER_FILE = "booster.txt"
PIPELINE_FILE = "pipeline.json"


def save_artifacts(booster: lgb.Booster, pipeline: FeaturePipeline, folder: Path) -> dict[str, str]:
    """Write the model's files; returns the artifact map for `mlflow.pyfunc.log_model`."""
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / BOOSTER_FILE))
    (folder / PIPELINE_FILE).write_text(json.dumps(pipeline.to_dict(), indent=1, sort_keys=True))
    return {"booster": str(folder / BOOSTER_FILE), "pipeline": str(folder / PIPELINE_FILE)}


class ShipmentRiskModel(PythonModel):  # type: ignore[misc]
    """Scores feature frames; carries the pipeline that builds them."""

    booster: lgb.Booster
    pipeline: FeaturePipeline

    def load_context(self, context: Any) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.pipeline = FeaturePipeline.from_dict(json.loads(Path(context.artifacts["pipeline"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        x = model_input[self.pipeline.feature_names].astype(float)
        return np.asarray(self.booster.predict(x))
