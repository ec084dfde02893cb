"""Model changes without downtime: a moved alias is picked up on request or by the poll, a version that
cannot be loaded leaves the old one serving, and every decision keeps the version that made it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from decisions.keys import Role
from tests.live import LiveServer, make_keys, migrated, service_settings
from tests.service.entries import entry_json
from training.train import train


@pytest.mark.slow
def test_the_champion_moves_without_a_restart(
    mlflow_store: str, history: pd.DataFrame, history_file: Path, tmp_path: Path
) -> None:
    shutil.copy(Path(mlflow_store.removeprefix("sqlite:///")), tmp_path / "mlflow.db")
    registry = f"sqlite:///{tmp_path / 'mlflow.db'}"
    second = train(history_file, uri=registry, shape="fixed").registration.version
    client = MlflowClient(registry, registry)
    client.set_registered_model_alias("shipment-risk", "champion", "1")
    booster = next(
        Path(client.get_model_version_download_uri("shipment-risk", str(second)).removeprefix("file://")).rglob(
            "booster.txt"
        )
    )
    good = booster.read_bytes()

    url = migrated(f"sqlite:///{tmp_path / 'targeting.db'}")
    settings = service_settings(url, registry, tmp_path / "cache")
    with LiveServer(settings, make_keys(url)) as live, live.client() as admin, live.client(Role.SCORER) as scorer:
        before = entry_json(history, 20)
        assert scorer.post("/v1/score", json={"entries": [before]}).json()["decisions"][0]["model"]["version"] == 1
        assert admin.post("/v1/model/reload").json() == {"changed": False, "version": 1, "previous_version": 1}

        client.set_registered_model_alias("shipment-risk", "champion", str(second))
        booster.write_bytes(good.replace(b"Tree=1", b"Tree=X", 1))  # damaged after registration
        failed = admin.post("/v1/model/reload")
        assert failed.status_code == 502
        assert "still serving version 1" in failed.json()["detail"] and "damaged" in failed.json()["detail"]
        assert "failed, still serving v1" in admin.get("/readyz").json()["checks"]["model_reload"]
        assert scorer.post("/v1/score", json={"entries": [entry_json(history, 21)]}).status_code == 200

        booster.write_bytes(good)
        swapped = admin.post("/v1/model/reload").json()
        assert swapped == {"changed": True, "version": second, "previous_version": 1}
        after = scorer.post("/v1/score", json={"entries": [entry_json(history, 22)]}).json()["decisions"][0]
        assert after["model"]["version"] == second
        assert admin.get(f"/v1/decisions/{before['entry_id']}").json()["model"]["version"] == 1  # kept as made
        assert "model_reload" not in admin.get("/readyz").json()["checks"]
        metrics = admin.get("/metrics").text
        assert f'targeting_model_version{{alias="champion",name="shipment-risk"}} {float(second)}' in metrics
        assert 'targeting_model_reloads_total{result="failed"} 1.0' in metrics
        assert 'targeting_model_reloads_total{result="changed"} 1.0' in metrics
        assert 'targeting_requests_total{method="POST",route="/v1/score",status="200"} 3.0' in metrics
        assert "targeting_score_bucket" in metrics and "targeting_decisions_recorded_total{action=" in metrics

    polled = settings.model_copy(update={"model_poll_seconds": 0.2})
    with LiveServer(polled, make_keys(url)) as live, live.client() as admin:
        assert admin.get("/v1/model").json()["version"] == second
        client.set_registered_model_alias("shipment-risk", "champion", "1")  # a rollback, followed by the poll
        deadline = time.monotonic() + 60
        while admin.get("/v1/model").json()["version"] != 1:
            assert time.monotonic() < deadline, "the poll did not follow the alias"
            time.sleep(0.1)


def test_a_request_finishes_on_the_scorer_it_started_with(scorer, history: pd.DataFrame) -> None:  # noqa: ANN001
    """The slot swaps one reference: whoever holds the old scorer keeps it whole."""
    from service.observe import Metrics
    from service.serving import ModelSlot

    newer = type(scorer)(scorer.model, scorer.ref.__class__(scorer.ref.name, 99, "champion", "run"), source="registry")
    slot = ModelSlot(scorer, lambda: 99, lambda: newer, Metrics())
    held = slot.scorer
    assert slot.reload().changed and slot.scorer is newer
    assert held is scorer and held.ref.version == scorer.ref.version
