"""The registered model stands alone: MLflow loads it from its own code and files, it takes entries (the
fields of POST /v1/score) and answers what the service would, and `mlflow models serve` runs it in a fresh
venv holding only the model's own requirements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.online import entity_keys, history_counts
from features.pipeline import entry_payloads
from features.schema import EXAMPLE_ENTRIES, Entry
from model.registry import ARTIFACT_DIGESTS, use
from model.scoring import Scorer
from tests.live import _free_port, server_process

CHAMPION = "models:/shipment-risk@champion"
PROFILE = (12.0, 3.0, 1.0)  # the importer's entries, inspections and violations before


@pytest.fixture(scope="module")
def pyfunc(mlflow_store: str) -> mlflow.pyfunc.PyFuncModel:
    use(mlflow_store)
    return mlflow.pyfunc.load_model(CHAMPION)


def _service_way(scorer: Scorer, payloads: list[dict[str, object]]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and contributions as the service computes them, the importer's profile known to be PROFILE."""
    entries = [Entry.model_validate(p) for p in payloads]
    rows = scorer.features.rows([e.model_dump(mode="json") for e in entries])
    keys = entity_keys(scorer.pipeline.spec, rows)
    known = {"importer_id": {k: PROFILE for k in keys["importer_id"] if k is not None}}
    counts = history_counts(keys, [e.filed_at for e in entries], known, [False] * len(entries))
    batch = scorer.features.batch(rows, counts)
    scored = scorer.score(batch, top=5)
    return np.array([s.score for s in scored]), np.array([s.phi for s in scored])


def test_the_registered_model_scores_entries_as_the_service_does(
    pyfunc: mlflow.pyfunc.PyFuncModel, scorer: Scorer, history: pd.DataFrame
) -> None:
    payloads = entry_payloads(history.tail(60))
    given = dict(zip(("importer_id__entries", "importer_id__inspections", "importer_id__violations"), PROFILE))
    out = pyfunc.predict(pd.DataFrame(payloads).assign(**given))
    scores, phi = _service_way(scorer, payloads)
    assert list(out["entry_id"]) == [p["entry_id"] for p in payloads]
    assert np.allclose(out["score"], scores, rtol=0, atol=1e-9)
    shares = out[[f"contribution__{f}" for f in scorer.pipeline.feature_names]].to_numpy()
    assert np.allclose(shares, phi[:, :-1], rtol=0, atol=1e-9) and np.allclose(out["base_value"], phi[:, -1])
    assert np.allclose(shares.sum(axis=1) + out["base_value"], out["raw_score"])
    # without the profile columns the accounts count as new: the scores differ
    assert not np.allclose(pyfunc.predict(pd.DataFrame(payloads))["score"], scores)


def test_a_bad_entry_is_refused_naming_its_row(pyfunc: mlflow.pyfunc.PyFuncModel) -> None:
    frame = pd.DataFrame(EXAMPLE_ENTRIES).astype({"quantity": float})
    frame.loc[1, "hts_code"] = "12"
    with pytest.raises(MlflowException, match="row 2: hts_code: .*10 digits"):
        pyfunc.predict(frame)


def test_every_file_of_the_version_is_in_its_digest(mlflow_store: str, tmp_path: Path) -> None:
    client = MlflowClient(mlflow_store, mlflow_store)
    version = client.get_model_version_by_alias("shipment-risk", "champion")
    recorded = json.loads(version.tags[ARTIFACT_DIGESTS])
    stored = Path(
        mlflow.artifacts.download_artifacts(
            client.get_model_version_download_uri("shipment-risk", "1"), dst_path=str(tmp_path)
        )
    )
    files = {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()}
    # loading models:/ from a local store writes MLflow's own `registered_model_meta` into the stored folder
    assert set(recorded) == files - {"registered_model_meta"}
    assert {"MLmodel", "mlflow_model.py", "code/model/artifact.py", "artifacts/booster.txt"} <= files
    assert not any(f.endswith(".pkl") for f in files)  # the model is code and data, no pickle


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, mlflow_store: str) -> Path:
    """A venv with the champion's requirements.txt installed, and nothing of the project."""
    client = MlflowClient(mlflow_store, mlflow_store)
    stored = Path(
        mlflow.artifacts.download_artifacts(
            client.get_model_version_download_uri("shipment-risk", "1"), dst_path=str(tmp_path_factory.mktemp("m"))
        )
    )
    venv = tmp_path_factory.mktemp("model-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "-r", stored / "requirements.txt"],
        check=True,
        capture_output=True,
    )
    return venv


@pytest.fixture(scope="module")
def served(fresh_venv: Path, mlflow_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve -m models:/shipment-risk@champion` from the fresh venv, outside the project."""
    port = _free_port()
    env = {
        "PATH": f"{fresh_venv / 'bin'}:/usr/bin:/bin",  # its uvicorn, not the project's
        "HOME": os.environ.get("HOME", "/tmp"),
        "MLFLOW_TRACKING_URI": mlflow_store,
    }
    url = f"http://127.0.0.1:{port}"
    command: list[str | Path] = [
        fresh_venv / "bin" / "mlflow",
        "models",
        "serve",
        "-m",
        CHAMPION,
        "--env-manager",
        "local",
    ]
    with server_process(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        f"{url}/ping",
        tmp_path_factory.mktemp("serve") / "serve.log",
        env=env,
        cwd=tmp_path_factory.mktemp("elsewhere"),  # not the project's folder: nothing of it is importable
    ):
        yield url


@pytest.mark.slow
def test_the_project_is_not_in_the_fresh_venv(fresh_venv: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [fresh_venv / "bin" / "python", "-c", "import model.artifact"], cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'model'" in probe.stderr


@pytest.mark.slow
def test_mlflow_serves_the_model_alone(served: str, pyfunc: mlflow.pyfunc.PyFuncModel, scorer: Scorer) -> None:
    entry = EXAMPLE_ENTRIES[0]  # as a targeting system sends it: quantity a JSON integer, filed_at text
    answer = httpx.post(f"{served}/invocations", json={"dataframe_records": [entry]}, timeout=60)
    assert answer.status_code == 200, answer.text
    (scored,) = answer.json()["predictions"]
    here = pyfunc.predict(pd.DataFrame([entry]).astype({"quantity": float})).iloc[0]
    assert scored["entry_id"] == entry["entry_id"] and scored["score"] == pytest.approx(here["score"], abs=1e-12)
    shares = {k: v for k, v in scored.items() if k.startswith("contribution__")}
    assert set(shares) == {f"contribution__{f}" for f in scorer.pipeline.feature_names}
    assert sum(shares.values()) + scored["base_value"] == pytest.approx(scored["raw_score"], abs=1e-9)

    bad = httpx.post(
        f"{served}/invocations", json={"dataframe_records": [{**entry, "country_of_origin": "XX"}]}, timeout=60
    )
    assert bad.status_code == 400 and "row 1: country_of_origin" in bad.json()["message"]
