"""The bare app bench/http_load.py measures the service against (bench/bare.py), served by uvicorn in its own
process as the benchmark serves it: the scorer key checked, the entries validated, an answer of the asked size."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from features.schema import EXAMPLE_ENTRIES

ROOT = Path(__file__).resolve().parents[2]
KEY = "tgt_bare-test-key"
ENTRY = EXAMPLE_ENTRIES[0]


@pytest.fixture(scope="module")
def bare() -> Iterator[str]:
    env = {**os.environ, "BARE_KEY_SHA256": hashlib.sha256(KEY.encode()).hexdigest(), "PYTHONPATH": str(ROOT)}
    uvicorn = Path(sys.executable).parent / "uvicorn"
    command = [str(uvicorn), "--factory", "bare:app", "--app-dir", "bench", "--host", "127.0.0.1", "--port", "0"]
    server = subprocess.Popen([*command, "--log-level", "info"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        for line in server.stderr or ():  # uvicorn names the port it bound
            if "Uvicorn running on" in line:
                url = line.split("running on ", 1)[1].split()[0]
                break
        assert url, "the bare app did not start"
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_it_answers_a_scorer_the_size_asked(bare: str) -> None:
    with httpx.Client(base_url=bare, headers={"Authorization": f"Bearer {KEY}"}) as client:
        for size in (1460, 134_697):
            answer = client.post("/v1/score", params={"size": size}, json={"entries": [ENTRY]})
            assert answer.status_code == 200, answer.text
            assert len(answer.content) == size and set(json.loads(answer.content)) == {"pad"}
        assert client.post("/v1/score", params={"size": 5}, json={"entries": [ENTRY]}).status_code == 422
        # the body is parsed into the entries' schema, as the service parses it
        bad = client.post("/v1/score", params={"size": 100}, json={"entries": [ENTRY | {"quantity": "many"}]})
        assert bad.status_code == 422 and "quantity" in bad.text
        assert client.post("/v1/score", params={"size": 100}, json={"entries": []}).status_code == 422


def test_it_refuses_a_missing_or_unknown_key(bare: str) -> None:
    body = {"entries": [ENTRY]}
    assert httpx.post(f"{bare}/v1/score", params={"size": 100}, json=body).status_code == 401
    other = {"Authorization": "Bearer tgt_someone-else"}
    assert httpx.post(f"{bare}/v1/score", params={"size": 100}, json=body, headers=other).status_code == 401
