"""Where served models are found: the registry's names and aliases, the default tracking store, and loading a
registered version. Reading only; training/registry.py is the one writer."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow.pyfunc
from mlflow import MlflowClient

from model.artifact import ShipmentRiskModel
from model.names import CHALLENGER, CHAMPION, MODEL_NAME, PROMOTION_METRIC

__all__ = [
    "ARTIFACT_DIGESTS",
    "CHALLENGER",
    "CHAMPION",
    "MODEL_NAME",
    "PROMOTION_METRIC",
    "load_model",
    "tracking_uri",
    "use",
]
ARTIFACT_DIGESTS = "artifact_sha256"  # model version tag: {file name: SHA-256} of the model's files


def tracking_uri(root: Path | None = None) -> str:
    """MLFLOW_TRACKING_URI if set, else the project's embedded store `mlruns/mlflow.db`."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    folder = (root or Path.cwd()) / "mlruns"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def use(uri: str) -> MlflowClient:
    """Point MLflow at the store `uri` and a client on it: the one place that sets the tracking and registry
    URIs, which MLflow's run API and `models:/` URIs resolve through."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def load_model(uri: str) -> ShipmentRiskModel:
    """Load a registered model (e.g. models:/shipment-risk@champion) with its booster and pipeline."""
    model: ShipmentRiskModel = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    return model
