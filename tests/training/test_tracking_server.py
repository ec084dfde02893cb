"""Training against an MLflow tracking server over HTTP, as compose.yaml runs it: the run and the model logged
through the server (artifacts proxied by it), the version registered and promoted there, and the service's scorer
loading it back with its digests checked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.schema import EXAMPLE_ENTRIES
from model.registry import ARTIFACT_DIGESTS, use
from model.scoring import Scorer
from tests.live import _free_port, server_process
from training.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` in its own process: a SQLite store and the artifacts it serves, in a temp dir."""
    root = tmp_path_factory.mktemp("tracking")
    port = _free_port()
    command: list[str | Path] = [
        Path(sys.executable).parent / "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # MLflow sets it in this process
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/health", root / "server.log", env=env, cwd=root):
        yield url


def test_training_registers_and_promotes_through_the_server(
    tracking_server: str, history_file: Path, tmp_path: Path
) -> None:
    first = train(history_file, uri=tracking_server, shape="fixed")
    assert (first.registration.version, first.registration.alias) == (1, "champion")
    client = MlflowClient(tracking_server, tracking_server)
    version = client.get_model_version("shipment-risk", "1")
    assert version.run_id == first.registration.run_id and ARTIFACT_DIGESTS in version.tags

    scorer = Scorer.load(tracking_server, "shipment-risk", "champion", tmp_path / "cache")  # digests checked
    assert scorer.ref.version == 1 and scorer.ref.run_id == first.registration.run_id
    use(tracking_server)
    scored = mlflow.pyfunc.load_model("models:/shipment-risk@champion").predict(
        pd.DataFrame(EXAMPLE_ENTRIES[:1]).astype({"quantity": float})
    )
    assert 0.0 < scored["score"].iloc[0] < 1.0

    second = train(history_file, uri=tracking_server, shape="fixed")  # the champion scored through the server
    assert second.registration.version == 2 and second.registration.champion_score is not None
    assert client.get_model_version_by_alias("shipment-risk", "champion").version in ("1", "2")
