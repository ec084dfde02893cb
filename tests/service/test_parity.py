"""Serving sees what training saw: the same entry, the same model inputs, bit for bit, over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy.orm import Session

from decisions import store
from features.history import HistoryProfiles, point_in_time_counts
from features.pipeline import prepare
from model.scoring import Scorer
from tests.live import LiveServer
from tests.service.entries import entry_json
from training.train import train

pytestmark = pytest.mark.slow


def test_served_inputs_equal_training_features(
    client: httpx.Client, live: LiveServer, history: pd.DataFrame, scorer: Scorer
) -> None:
    spec = scorer.pipeline.spec
    rows = prepare(history, spec)
    trained = scorer.pipeline.transform(rows, point_in_time_counts(rows, spec))
    engine = store.make_engine(live.settings.database_url)
    for i in (25_001, 26_502, 27_003, 28_504, 29_905):
        # the store holds the history as it stood when entry i was filed
        profiles = HistoryProfiles.from_frame(rows.drop(index=i), spec, as_of=rows.loc[i, "filed_at"])
        with Session(engine) as session:
            store.replace_profiles(session, profiles.counts)
            session.commit()
        entry = entry_json(history, i, fresh_id=False)
        assert client.post("/v1/score", json={"entries": [entry]}).status_code == 200
        record = client.get(f"/v1/decisions/{entry['entry_id']}").json()
        served = np.array([np.nan if c["input"] is None else c["input"] for c in record["contributions"]])
        assert served.tobytes() == trained.loc[i].to_numpy().tobytes(), entry["entry_id"]
    engine.dispose()


def test_a_decision_outlives_the_champion(
    live: LiveServer, history: pd.DataFrame, history_file: Path, mlflow_store: str, tmp_path: Path
) -> None:
    # a registry of its own, where a second version becomes champion
    db = Path(mlflow_store.removeprefix("sqlite:///"))
    shutil.copy(db, tmp_path / "mlflow.db")
    registry = f"sqlite:///{tmp_path / 'mlflow.db'}"
    second = train(history_file, uri=registry, shape="fixed")
    client = MlflowClient(registry, registry)
    client.set_registered_model_alias("shipment-risk", "champion", second.registration.version)

    entry = entry_json(history, 5000)
    with live.client() as old:
        first = old.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
    settings = live.settings.model_copy(update={"mlflow_tracking_uri": registry, "model_cache": tmp_path / "cache"})
    with LiveServer(settings, live.keys) as new, new.client() as client:
        assert client.get("/v1/model").json()["version"] == 2
        rescored = client.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
        assert rescored["model"]["version"] == 2 and not rescored["replayed"]
        latest = client.get(f"/v1/decisions/{entry['entry_id']}").json()
        assert latest["model"]["version"] == 2
        assert [e["model"]["version"] for e in latest["earlier"]] == [1]
        original = client.get(f"/v1/decisions/{entry['entry_id']}", params={"model_version": 1}).json()
        assert {k: original[k] for k in ("score", "action", "decided_at", "raw_score", "reasons", "model")} == {
            k: first[k] for k in ("score", "action", "decided_at", "raw_score", "reasons", "model")
        }
        assert len(original["contributions"]) == len(latest["contributions"])
