"""`targeting score`: a file decided as the API decides the same entries, in process and over Dask."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from decisions import migrate, store
from decisions.keys import Role
from features.pipeline import entry_payloads
from model.scoring import Scorer
from service import batch
from service.distributed import score_on_dask
from tests.live import LiveServer, make_keys, own_database, service_settings
from tests.service.entries import entry_json
from training.cluster import connect

pytestmark = pytest.mark.slow
COMPARED = [
    "entry_id",
    "score",
    "action",
    "risk_band",
    "expected_revenue",
    "selection",
    "selection_probability",
    "raw_score",
    "base_value",
    "model_version",
]


def _entries(history: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """n entries from a few busy importers, so that earlier entries change later ones' history."""
    busy = history["importer_id"].value_counts().index[:3]
    rows = history.index[history["importer_id"].isin(busy)][:n]
    return [entry_json(history, i) for i in rows]


def _write(entries: list[dict[str, Any]], path: Path, **parquet: Any) -> Path:
    frame = pd.DataFrame(entries)
    frame.to_parquet(path, index=False, **parquet) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def _job(url: str, mlflow_store: str, scorer: Scorer, cache: Path, **kw: Any) -> batch.Job:
    return batch.Job(
        mlflow_store,
        "shipment-risk",
        "champion",
        scorer.ref.version,
        cache,
        url,
        service_settings(url, mlflow_store, cache).sample_secret.encode(),
        5,
        **kw,
    )


def _selection(frame: pd.DataFrame) -> pd.DataFrame:
    """`selection` as text, "released" where there is none, whatever the reader made of an empty cell."""
    return frame.assign(selection=[v if isinstance(v, str) and v else "released" for v in frame["selection"]])


def _api(decisions: list[dict[str, Any]]) -> pd.DataFrame:
    return _selection(
        pd.DataFrame(
            [
                {k: d["model"]["version"] if k == "model_version" else d[k] for k in COMPARED}
                | {"reasons": [r["sentence"] for r in d["reasons"]]}
                for d in decisions
            ]
        )
    )


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
        assert store.prior_decisions(Session(c), [e["entry_id"] for e in entries], "shipment-risk", 1)[0] == set()
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
        seen, mine = store.prior_decisions(Session(c), [e["entry_id"] for e in entries], "shipment-risk", 1)
    assert len(seen) == len(mine) == 90  # every decision recorded once


def test_dask_gives_the_single_process_result(
    live: LiveServer, history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    source = _write(_entries(history, 1000), tmp_path / "in.parquet", row_group_size=150)
    job = _job(live.settings.database_url, mlflow_store, scorer, tmp_path / "cache", contributions=True)
    alone, spread = tmp_path / "alone.parquet", tmp_path / "spread.parquet"
    batch.score_file(source, alone, job, chunk=40)
    with connect("local", workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        # 40-entry chunks, 20 to a partition: two partitions of 800 and 200 rows over row groups of 150
        assert score_on_dask(source, spread, job, 40, client) == 1000
    parts = sorted(p.name for p in spread.iterdir())
    assert parts == ["part-000000.parquet", "part-000001.parquet"]
    a, b = pd.read_parquet(alone), pd.read_parquet(spread)
    assert len(a) == 1000 and len([c for c in a.columns if c.startswith("contribution__")]) == 54
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    with connect("local", workers=1) as client:
        with pytest.raises(batch.BatchError, match="leave out --dask"):
            score_on_dask(source, spread, batch.Job(**{**job.__dict__, "record": True}), 40, client)
        with pytest.raises(batch.BatchError, match="Parquet"):
            score_on_dask(source, tmp_path / "out.csv", job, 40, client)


def test_bad_input_names_the_row_and_leaves_no_file(
    live: LiveServer, history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path
) -> None:
    entries = _entries(history, 30)
    entries[17]["hts_code"] = "not-a-code"
    job = _job(live.settings.database_url, mlflow_store, scorer, tmp_path / "cache")
    out = tmp_path / "out.parquet"
    with pytest.raises(batch.BatchError, match=r"row 18 \(line 19\): hts_code"):
        batch.score_file(_write(entries, tmp_path / "in.csv"), out, job, chunk=10)
    assert list(tmp_path.glob("*out*")) == []  # neither the target nor a partial file
    entries[17] = entries[3] | {}
    with pytest.raises(batch.BatchError, match="row 18: entry id .* appears earlier in the file"):
        batch.score_file(_write(entries, tmp_path / "dup.parquet"), out, job, chunk=30)
    with pytest.raises(batch.BatchError, match="unknown output format"):
        batch.score_file(tmp_path / "dup.parquet", tmp_path / "out.xlsx", job, chunk=30)


def test_the_command_line(live: LiveServer, history: pd.DataFrame, mlflow_store: str, tmp_path: Path) -> None:
    entries = _entries(history, 40)
    entries[0]["entry_type"] = "01"  # read back from CSV as text: the leading zero is kept
    source = _write(entries, tmp_path / "in.csv")
    env = {
        **os.environ,
        "DATABASE_URL": live.settings.database_url,
        "MLFLOW_TRACKING_URI": mlflow_store,
        "TARGETING_MODEL_CACHE": str(tmp_path / "cache"),
    }
    targeting = str(Path(sys.executable).parent / "targeting")
    done = subprocess.run(
        [targeting, "score", str(source), str(tmp_path / "out.parquet"), "--chunk", "15"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "scored 40 entries with shipment-risk v1" in done.stdout
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 40
    missing = subprocess.run(
        [targeting, "score", str(tmp_path / "nope.csv"), str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert missing.returncode == 2 and "nope.csv: no such file" in missing.stderr and "Traceback" not in missing.stderr


def _decided(url: str, ids: list[str]) -> int:
    engine = store.make_engine(url)
    with engine.connect() as c:
        seen, _ = store.prior_decisions(Session(c), ids, "shipment-risk", 1)
    engine.dispose()
    return len(seen)


def _profiles(url: str) -> list[tuple[Any, ...]]:
    engine = store.make_engine(url)
    with engine.connect() as c:
        rows = sorted(tuple(r) for r in c.execute(select(store.Profile.__table__)))
    engine.dispose()
    return rows


@pytest.mark.parametrize("fresh", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_refused_file_records_nothing(
    fresh: tuple[str, str], history: pd.DataFrame, scorer: Scorer, mlflow_store: str, tmp_path: Path, suffix: str
) -> None:
    url = fresh[0]
    entries = entry_payloads(history.iloc[:2500])
    entries[2100]["quantity"] = -3  # row 2101: refused, after two chunks of 1,000 would have been committed
    job = _job(url, mlflow_store, scorer, tmp_path / "cache", record=True)
    before, out = _profiles(url), tmp_path / "out.parquet"
    where = "row 2101 (line 2102)" if suffix == ".csv" else "row 2101"
    with pytest.raises(batch.BatchError, match=rf"^{re.escape(where)}: quantity"):
        batch.score_file(_write(entries, tmp_path / f"in{suffix}"), out, job, chunk=1000)
    assert _decided(url, [e["entry_id"] for e in entries]) == 0 and _profiles(url) == before
    assert not out.exists()

    # a later entry that this model decided before with other contents: refused whole too
    good = entries[:1500]
    good[2100 - 1000]["quantity"] = 5
    first = _write(good[1200:1201], tmp_path / f"first{suffix}")
    batch.score_file(first, out, job, chunk=1000)  # recorded: one entry, one row
    changed = [dict(e) for e in good]
    changed[1200]["description"] = "something else entirely"
    before = _profiles(url)
    with pytest.raises(batch.BatchError, match=r"row 1201.*already scored by this model with different contents"):
        batch.score_file(_write(changed, tmp_path / f"changed{suffix}"), out, job, chunk=1000)
    assert _decided(url, [e["entry_id"] for e in changed]) == 1 and _profiles(url) == before


BAD_FILES = {
    "empty.csv": (b"", "is empty"),
    "latin1.csv": ("entry_id,description\nX1,caf\xe9 cr\xe8me\n".encode("latin-1"), "is not UTF-8 text"),
    "quote.csv": (b'entry_id,description\nX1,"steel nails\nX2,bolts\n', "could not be read"),
    "header-only.csv": (b"entry_id,description\n", "holds no entries"),
    "corrupt.parquet": (b"PAR1 this is not a parquet file", "could not be read"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_it(live: LiveServer, mlflow_store: str, tmp_path: Path, name: str) -> None:
    content, message = BAD_FILES[name]
    source = tmp_path / name
    source.write_bytes(content)
    env = {
        **os.environ,
        "DATABASE_URL": live.settings.database_url,
        "MLFLOW_TRACKING_URI": mlflow_store,
        "TARGETING_MODEL_CACHE": str(tmp_path / "cache"),
    }
    targeting = str(Path(sys.executable).parent / "targeting")
    done = subprocess.run(
        [targeting, "score", str(source), str(tmp_path / "out.parquet"), "--record"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(errors) == 1, done.stderr
    assert str(source) in errors[0] and message in errors[0], errors
    assert "registry" not in errors[0] and "shipment-risk" not in errors[0]  # the file is to blame, not the model
    assert not (tmp_path / "out.parquet").exists()
