"""What the desk shows of the MLflow registry (read only): the versions behind the aliases, their training
runs' metrics, and each run's report. Answers are kept for a minute: a page must not wait on the registry
every time, and an alias moves rarely."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import mlflow
from mlflow import MlflowClient

from model.registry import CHALLENGER, CHAMPION

log = logging.getLogger(__name__)
REPORT = "report.html"


class NotInRegistry(LookupError):
    pass


@dataclass(frozen=True)
class ModelCard:
    alias: str
    version: int
    run_id: str
    experiment_id: str
    registered_at: datetime
    metrics: dict[str, float]
    trained_on: dict[str, str]


class RegistryView:
    """Read-only, cached answers from the registry at `uri` about model `name`."""

    def __init__(self, uri: str, name: str, ui_url: str | None, ttl: float = 60.0) -> None:
        self.uri, self.name, self.ui_url, self.ttl = uri, name, ui_url, ttl
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: Any, compute: Any) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def _client(self) -> MlflowClient:
        return MlflowClient(self.uri, self.uri)

    def _card(self, client: MlflowClient, alias: str, found: Any) -> ModelCard:
        run = client.get_run(str(found.run_id))
        keep = ("data_sha256", "data_path", "rows_total", "rows_labelled", "valid_from", "test_from", "weighting")
        return ModelCard(
            alias,
            int(found.version),
            str(found.run_id),
            str(run.info.experiment_id),
            datetime.fromtimestamp(int(found.creation_timestamp) / 1000, UTC),
            dict(run.data.metrics),
            {k: v for k, v in run.data.params.items() if k in keep},
        )

    def cards(self) -> list[ModelCard]:
        """The champion's and the challenger's cards, for the aliases that are set."""

        def compute() -> list[ModelCard]:
            client, out = self._client(), []
            for alias in (CHAMPION, CHALLENGER):
                try:
                    found = client.get_model_version_by_alias(self.name, alias)
                except mlflow.exceptions.MlflowException:
                    continue
                out.append(self._card(client, alias, found))
            return out

        cards: list[ModelCard] = self._cached("cards", compute)
        return cards

    def run_of(self, version: int) -> tuple[str, str]:
        """The training run (id, experiment id) of a version of the model."""

        def compute() -> tuple[str, str]:
            client = self._client()
            try:
                found = client.get_model_version(self.name, str(version))
            except mlflow.exceptions.MlflowException as exc:
                raise NotInRegistry(f"model {self.name} has no version {version}") from exc
            return str(found.run_id), str(client.get_run(str(found.run_id)).info.experiment_id)

        run: tuple[str, str] = self._cached(("run", version), compute)
        return run

    def run_url(self, run_id: str, experiment_id: str) -> str | None:
        """The run's page in `mlflow ui`, when the settings say where that serves."""
        if not self.ui_url:
            return None
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def report(self, version: int) -> bytes:
        """The HTML report logged with a version's training run (self-contained: figures inline)."""
        run_id, _ = self.run_of(version)
        with TemporaryDirectory() as tmp:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=REPORT, dst_path=tmp, tracking_uri=self.uri
                )
            except (OSError, mlflow.exceptions.MlflowException) as exc:
                raise NotInRegistry(f"the training run of version {version} has no report") from exc
            return Path(path).read_bytes()
