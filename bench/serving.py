"""Serving the service for a benchmark: the `targeting` command, uvicorn on a free port, its readiness, its stop,
and the problems its log reports. Shared by the benches that start the service (soak, http_load, overload, desk)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SETUP_HINT = (
    "run `make up` first, or: .venv/bin/targeting generate --entries 200000 --seed 7 --out data/entries.parquet "
    "&& .venv/bin/targeting train --data data/entries.parquet"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def targeting(args: list[str], env: dict[str, str]) -> str:
    """Run a `targeting` command; on failure show its output and stop."""
    out = subprocess.run([str(BIN / "targeting"), *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"targeting {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return out.stdout


def wait_ready(port: int, server: subprocess.Popen[bytes], log: Path, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the service exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    sys.exit(f"the service was not ready within {limit:.0f}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def uvicorn(
    factory: str, workers: int, env: dict[str, str], log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """An app factory (`service.app:app_from_env`) served by uvicorn on a free local port, its output appended to
    `log`: its port and process once it is ready; stopped on leaving."""
    port = free_port()
    command = [str(BIN / "uvicorn"), "--factory", factory, "--workers", str(workers), "--no-access-log"]
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(port, server, log)
        yield port, server
    finally:
        stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def problems(log: Path) -> dict[str, Any]:
    """The service's warnings and errors (its JSON log lines), counted by level, message and exception."""
    found = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                error = (record.get("error") or "").strip().splitlines()
                found.append(f"{record['level']} {record.get('message', '').strip()} {error[-1] if error else ''}")
    return {"count": len(found), "by_kind": dict(Counter(k[:300] for k in found).most_common(10))}
