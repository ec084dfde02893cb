"""The Scorer: model inputs -> calibrated score, margin and every feature's SHAP contribution."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient

from features.online import Batch, OnlineFeatures, missing_as_none
from features.pipeline import FeaturePipeline
from model import cache as model_cache
from model.artifact import ShipmentRiskModel
from model.explain import Explainer
from model.registry import ARTIFACT_DIGESTS, load_model
from model.treeshap import TreeShap

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """The registry has no such model, or it cannot be loaded."""


def resolve(tracking_uri: str, name: str, alias: str) -> int:
    """The version `name@alias` points at in the registry now."""
    return int(MlflowClient(tracking_uri, tracking_uri).get_model_version_by_alias(name, alias).version)


def _from_registry(tracking_uri: str, name: str, alias: str, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The verified local copy of the version `name@alias` points at, downloaded if not yet cached."""
    client = MlflowClient(tracking_uri, tracking_uri)
    found = client.get_model_version_by_alias(name, alias)
    version = int(found.version)
    folder = model_cache.version_dir(cache, name, version)
    try:
        info = model_cache.verify(folder)
    except model_cache.CorruptModel:  # not cached yet, or damaged: fetch it
        run = client.get_run(str(found.run_id))
        info = {
            "name": name,
            "version": version,
            "run_id": str(found.run_id),
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
        }
        source = client.get_model_version_download_uri(name, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            downloaded = Path(mlflow.artifacts.download_artifacts(source, dst_path=tmp, tracking_uri=tracking_uri))
            recorded = found.tags.get(ARTIFACT_DIGESTS)
            if recorded:  # versions registered before digests were recorded are loaded as they are
                what = f"model {name} version {version} cannot be loaded, its artifact is damaged"
                try:
                    model_cache.check_digests(downloaded, json.loads(recorded), what)
                except model_cache.CorruptModel as exc:
                    raise ModelUnavailable(str(exc)) from exc
            folder = model_cache.store(cache, name, version, downloaded, info)
    model_cache.remember(cache, name, alias, version)
    return folder, info


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
    reasons: list[dict[str, Any]]
    features: list[str]  # the model's features, in order
    values: list[Any]  # each feature's value as a reviewer reads it
    inputs: list[float | None]  # each feature's model input, None where missing
    phi: list[float]  # each feature's contribution, the bias last

    @property
    def contributions(self) -> list[dict[str, Any]]:
        """Every feature's contribution with its value and input: built when asked, as a file of decisions
        without its contributions never reads them."""
        return [
            {"feature": f, "value": v, "input": g, "contribution": c}
            for f, v, g, c in zip(self.features, self.values, self.inputs, self.phi)
        ]


@dataclass
class Scorer:
    """One loaded model version; immutable once built, so requests can share it."""

    model: ShipmentRiskModel
    ref: ModelRef
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    source: str = "given"  # registry, or local cache when the registry was unreachable

    def __post_init__(self) -> None:
        self.explainer = Explainer(self.model.pipeline)
        self.features = OnlineFeatures(self.model.pipeline)
        self.treeshap: TreeShap | None = None
        try:  # exact and several times faster than LightGBM's pred_contrib, which stays the fallback
            self.treeshap = TreeShap.from_booster(self.model.booster)
            self.treeshap.warm()
        except Exception as exc:  # a model shape the kernel does not handle, or numba failing to compile
            log.warning("explaining with LightGBM's pred_contrib: the fast TreeSHAP is unavailable (%s)", exc)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Exact SHAP values, `booster.predict(x, pred_contrib=True)`'s layout: one thread for small
        batches (waking OpenMP workers or a thread pool costs more than the work), every core for large."""
        threads = 1 if len(x) < 64 else 0
        if self.treeshap is not None:
            return self.treeshap.contributions(x, threads=threads)
        return np.asarray(self.model.booster.predict(x, pred_contrib=True, num_threads=threads))

    @property
    def pipeline(self) -> FeaturePipeline:
        return self.model.pipeline

    @classmethod
    def load(cls, tracking_uri: str, name: str, alias: str, cache: Path) -> Scorer:
        """Resolve `name@alias` to a version in the registry and load exactly that version through a
        verified local copy; with the registry unreachable, the version it last resolved to from that copy."""
        try:
            folder, info = _from_registry(tracking_uri, name, alias, cache)
            source = "registry"
        except Exception as exc:  # MLflow raises its own errors, and connection errors, for an unusable registry
            if isinstance(exc, ModelUnavailable):
                raise
            version = model_cache.recall(cache, name, alias)
            if version is None:
                raise ModelUnavailable(
                    f"no model {name}@{alias} in {tracking_uri} ({type(exc).__name__}) and none cached in {cache}: "
                    "train one with `targeting train`"
                ) from exc
            folder = model_cache.version_dir(cache, name, version)
            try:
                info = model_cache.verify(folder)
            except model_cache.CorruptModel as corrupt:
                raise ModelUnavailable(f"registry unreachable and the cached copy is refused: {corrupt}") from exc
            source = f"local cache (registry unreachable: {type(exc).__name__})"
            log.warning(
                "registry %s unreachable (%s); serving %s v%s from %s",
                tracking_uri,
                type(exc).__name__,
                name,
                version,
                folder,
            )
        try:
            model = load_model(str(folder))
        except Exception as exc:  # a damaged artifact fails inside LightGBM, pickle or JSON
            shutil.rmtree(folder, ignore_errors=True)  # fetched again next time, in case the registry is repaired
            raise ModelUnavailable(
                f"model {name} version {info['version']} cannot be loaded, its artifact is damaged: "
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            ) from exc
        ref = ModelRef(name, int(info["version"]), alias, str(info["run_id"]))
        log.info("loaded model %s version %s (@%s) from %s", name, ref.version, alias, source)
        return cls(model, ref, dict(info["metrics"]), dict(info["params"]), source)

    def score(self, batch: Batch, top: int) -> list[Scored]:
        """Score a batch of entries built by `self.features`."""
        x = batch.x
        contrib = self.contributions(x)
        raw = contrib.sum(axis=1)  # the margin is exactly the bias plus every contribution
        scores = self.model.calibration.probability(raw)
        revenue = self.model.revenue
        expected = scores * revenue.given_violation(x) if revenue is not None else np.full(len(x), np.nan)
        inputs = missing_as_none(x)
        shown = self.explainer.display_values(batch, inputs)
        names = self.pipeline.feature_names
        # a few more than `top`: the explainer may pass over features whose fact another reason states
        orders = np.argsort(-np.abs(contrib[:, :-1]), axis=1, kind="stable")[:, : 2 * top + 2].tolist()
        out = []
        for i, (values, given_row, phi, order) in enumerate(zip(shown, inputs, contrib.tolist(), orders)):
            reasons = [
                {
                    "feature": names[j],
                    "value": values[j],
                    "contribution": phi[j],
                    "effect": "raises risk" if phi[j] > 0 else "lowers risk",
                    "sentence": self.explainer.sentence(j, batch, i, values[j]),
                }
                for j in self.explainer.pick(order, batch, i, top)
            ]
            money = None if np.isnan(expected[i]) else float(expected[i])
            out.append(Scored(float(scores[i]), float(raw[i]), phi[-1], money, reasons, names, values, given_row, phi))
        return out
