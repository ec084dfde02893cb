"""`targeting score`: a file decided as the API decides the same entries, in process and over Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from service import batch, migrate, store
from service.distributed import over_dask
from service.keys import Role
from service.scoring import Scorer
from tests.live import LiveServer, make_keys, own_database, service_settings
from tests.service.entries import entry_json
from training.cluster import connect

pytestmark = pytest.mark.slow
COMPARED = ["entry_id", "score", "action", "risk_band", "expected_revenue", "selection", "selection_probability",
            "raw_score", "base_value", "model_version"]  # fmt: skip


def _entries(history: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """n entries from a few busy importers, so that earlier entries change later ones' history."""
    busy = history["importer_id"].value_counts().index[:3]
    rows = history.index[history["importer_id"].isin(busy)][:n]
    return [entry_json(history, i) for i in rows]


def _write(entries: list[dict[str, Any]], path: Path) -> Path:
    frame = pd.DataFrame(entries)
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def _job(url: str, mlflow_store: str, scorer: Scorer, cache: Path, **kw: Any) -> batch.Job:
    return batch.Job(mlflow_store, "shipment-risk", "champion", scorer.ref.version, cache, url,
                     service_settings(url, mlflow_store, cache).sample_secret.encode(), 5, **kw)  # fmt: skip


def _selection(frame: pd.DataFrame) -> pd.DataFrame:
    """`selection` as text, "released" where there is none, whatever the reader made of an empty cell."""
    return frame.assign(selection=[v if isinstance(v, str) and v else "released" for v in frame["selection"]])


def _api(decisions: list[dict[str, Any]]) -> pd.DataFrame:
    return _selection(pd.DataFrame([{k: d["model"]["version"] if k == "model_version" else d[k] for k in COMPARED}
                                    | {"reasons": [r["sentence"] for r in d["reasons"]]} for d in decisions]))


def _file(path: Path) -> pd.DataFrame:
    out = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)
    out["reasons"] = [[r["sentence"] for r in json.loads(text)] for text in out["reasons"]]
    return _selection(out[[*COMPARED, "reasons"]])


@pytest.fixture
def fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Two empty migrated databases of one backend: one for the API, one for the batch."""
    kind = getattr(request, "param", "sqlite")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    for a in own_database(kind, first):
        for b in own_database(kind, second):
            for url in (a, b):
                migrate.upgrade(store.make_engine(url))
            yield a, b


def test_a_dry_run_decides_as_one_request_and_writes_nothing(
    live: LiveServer, history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    entries = _entries(history, 120)
    url = live.settings.database_url
    job = _job(url, mlflow_store, scorer, tmp_path / "cache")
    out = tmp_path / "out.parquet"
    assert batch.score_file(_write(entries, tmp_path / "in.parquet"), out, job, chunk=1000) == 120
    with store.make_engine(url).connect() as c:  # nothing recorded: the API decides them afresh below
        assert store.prior_decisions(store.Session(c), [e["entry_id"] for e in entries], "shipment-risk", 1)[0] == set()
    with live.client(Role.SCORER) as client:
        answer = client.post("/v1/score", json={"entries": entries})
    assert answer.status_code == 200
    pd.testing.assert_frame_equal(_file(out), _api(answer.json()["decisions"]))


@pytest.mark.parametrize("fresh", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_recorded_chunks_decide_as_consecutive_requests(
    fresh: tuple[str, str], history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    api_db, batch_db = fresh
    entries = _entries(history, 90)
    settings = service_settings(api_db, mlflow_store, tmp_path / "api-cache")
    with LiveServer(settings, make_keys(api_db)) as server, server.client(Role.SCORER) as client:
        answers = [client.post("/v1/score", json={"entries": entries[i : i + 30]}) for i in range(0, 90, 30)]
    assert all(a.status_code == 200 for a in answers)
    expected = _api([d for a in answers for d in a.json()["decisions"]])
    job = _job(batch_db, mlflow_store, scorer, tmp_path / "cache", record=True)
    out = tmp_path / "out.csv"
    batch.score_file(_write(entries, tmp_path / "in.csv"), out, job, chunk=30)
    pd.testing.assert_frame_equal(_file(out), expected, check_dtype=False)
    assert expected["reasons"].map(lambda r: any("filed" in s and "entries before" in s for s in r)).any()
    with store.make_engine(batch_db).connect() as c:
        seen, mine = store.prior_decisions(store.Session(c), [e["entry_id"] for e in entries], "shipment-risk", 1)
    assert len(seen) == len(mine) == 90  # every decision recorded once


def test_dask_gives_the_single_process_result(
    live: LiveServer, history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    source = _write(_entries(history, 250), tmp_path / "in.parquet")
    job = _job(live.settings.database_url, mlflow_store, scorer, tmp_path / "cache", contributions=True)
    alone, spread = tmp_path / "alone.parquet", tmp_path / "spread.parquet"
    batch.score_file(source, alone, job, chunk=40)
    with connect("local", workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        batch.score_file(source, spread, job, chunk=40, mapper=over_dask(client))
    a, b = pq.read_table(alone), pq.read_table(spread)
    assert a.num_rows == 250 and len([c for c in a.column_names if c.startswith("contribution__")]) == 54
    assert a.equals(b)
    with pytest.raises(batch.BatchError, match="leave out --dask"), connect("local", workers=1) as client:
        batch.score_file(source, spread, batch.Job(**{**job.__dict__, "record": True}), 40, mapper=over_dask(client))


def test_bad_input_names_the_row_and_leaves_no_file(
    live: LiveServer, history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    entries = _entries(history, 30)
    entries[17]["hts_code"] = "not-a-code"
    job = _job(live.settings.database_url, mlflow_store, scorer, tmp_path / "cache")
    out = tmp_path / "out.parquet"
    with pytest.raises(batch.BatchError, match=r"row 18: hts_code"):
        batch.score_file(_write(entries, tmp_path / "in.csv"), out, job, chunk=10)
    assert list(tmp_path.glob("*out*")) == []  # neither the target nor a partial file
    entries[17] = entries[3] | {}
    with pytest.raises(batch.BatchError, match="more than once"):
        batch.score_file(_write(entries, tmp_path / "dup.parquet"), out, job, chunk=30)
    with pytest.raises(batch.BatchError, match="unknown format"):
        batch.score_file(tmp_path / "dup.parquet", tmp_path / "out.xlsx", job, chunk=30)


def test_the_command_line(live: LiveServer, history: pd.DataFrame, mlflow_store: str, tmp_path: Path) -> None:
    entries = _entries(history, 40)
    entries[0]["entry_type"] = "01"  # read back from CSV as text: the leading zero is kept
    source = _write(entries, tmp_path / "in.csv")
    env = {**os.environ, "DATABASE_URL": live.settings.database_url, "MLFLOW_TRACKING_URI": mlflow_store,
           "TARGETING_MODEL_CACHE": str(tmp_path / "cache")}  # fmt: skip
    targeting = str(Path(sys.executable).parent / "targeting")
    done = subprocess.run([targeting, "score", str(source), str(tmp_path / "out.parquet"), "--chunk", "15"],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "scored 40 entries with shipment-risk v1" in done.stdout
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 40
    missing = subprocess.run([targeting, "score", str(tmp_path / "nope.csv"), str(tmp_path / "x.csv")],
                             capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert missing.returncode == 2 and "nope.csv: no such file" in missing.stderr and "Traceback" not in missing.stderr
