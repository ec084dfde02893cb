"""The registered model: LightGBM booster, fitted feature pipeline and calibration, as one MLflow pyfunc.

MLflow loads it on its own from code (`model/mlflow_model.py`, with the `features` and `model` packages
shipped beside it): its input is a frame of entries, the fields of `POST /v1/score`, with optional
history columns `{entity}__{entries|inspections|violations}` (an account's profile: entries filed,
inspected and found violating before this one; zero where absent); its output per entry is the
calibrated score, the margin, the bias, the expected revenue and every feature's SHAP contribution. The
service unwraps it to reach the booster, pipeline and calibration directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel
from pydantic import ValidationError

from features.history import COUNTS, batch_counts
from features.pipeline import FeaturePipeline, entries_frame, entry_payloads, prepare
from features.schema import BOOLEAN_FIELDS, ENTRY_FIELDS, Entry, first_problem
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

    def probability(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated violation probabilities for a frame of model inputs (`FeaturePipeline.transform`)."""
        features = x[self.pipeline.feature_names].to_numpy(dtype=float)
        return self.calibration.probability(self.booster.predict(features, raw_score=True))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Per entry (see the module's docstring): id, score, raw_score, base_value, expected_revenue and
        `contribution__{feature}` for every feature; exact TreeSHAP (LightGBM's), summing to raw_score."""
        spec = self.pipeline.spec
        rows = prepare(self._entries(model_input), spec)
        counts = batch_counts(rows, spec)  # the frame's own earlier entries count, as in one API request
        for name in history_columns(self.pipeline):
            if name in model_input:
                given = pd.to_numeric(model_input[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)
                counts[name] = counts[name].to_numpy(dtype=float) + given
        x = self.pipeline.transform(rows, counts).to_numpy(dtype=float)
        contributions = np.asarray(self.booster.predict(x, pred_contrib=True))
        raw = contributions.sum(axis=1)
        score = self.calibration.probability(raw)
        revenue = score * self.revenue.given_violation(x) if self.revenue is not None else np.full(len(x), np.nan)
        out = pd.DataFrame(
            {
                spec.id: rows[spec.id].astype(str).to_numpy(),
                "score": score,
                "raw_score": raw,
                "base_value": contributions[:, -1],
                "expected_revenue": revenue,
            }
        )
        shares = pd.DataFrame(
            contributions[:, :-1], columns=[f"contribution__{f}" for f in self.pipeline.feature_names]
        )
        return pd.concat([out, shares], axis=1)

    def _entries(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The input's rows as the pipeline reads them: for the entry schema, each row validated as the API
        validates it (a bad row is an MlflowException naming it, which `mlflow models serve` answers 400)."""
        spec = self.pipeline.spec
        if spec.derive != "entry":  # a model of another dataset's shape reads that dataset's columns
            return model_input.assign(**{spec.timestamp: pd.to_datetime(model_input[spec.timestamp], utc=True)})
        sent = [
            {k: _yes_no(v) if k in BOOLEAN_FIELDS else v for k, v in row.items() if v is not None}
            for row in entry_payloads(model_input.reindex(columns=list(ENTRY_FIELDS)))
        ]
        entries = []
        for n, row in enumerate(sent, start=1):
            try:
                entries.append(Entry.model_validate(row))
            except ValidationError as exc:
                raise MlflowException.invalid_parameter_value(f"row {n}: {first_problem(exc)}") from None
        return entries_frame(entries)


def _yes_no(value: Any) -> Any:
    """A frame's yes/no as a boolean: tables often hold it as 1.0/0.0 (the API itself takes only true/false)."""
    return bool(value) if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1) else value


def history_columns(pipeline: FeaturePipeline) -> list[str]:
    """The optional input columns of an account's profile, `{entity}__{entries|inspections|violations}`."""
    return [f"{pipeline.spec.entity_name(e)}__{c}" for e in pipeline.spec.entities for c in COUNTS]
