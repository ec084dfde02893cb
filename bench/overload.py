"""One worker past its limits: closed-loop clients well beyond what it admits; answers, latency, rows recorded.

    .venv/bin/python bench/overload.py [--connections 16 64 128] [--seconds 20] [--backends sqlite postgres]
                                       [--json bench/results/overload.json]

Needs `make up` first (data/entries.parquet and a champion in the MLflow store). For each backend (SQLite in a
temp dir; a throwaway PostgreSQL database at 127.0.0.1:5432, dropped afterwards) a fresh database is migrated,
loaded with the history profiles and given a scorer key, and one uvicorn worker serves it. For each number of
connections, that many clients each send one-entry POST /v1/score requests back to back over kept-alive
connections (a new entry id per request) for --seconds, giving up on a request after --timeout seconds as a
caller would. After a 503 a client waits as its Retry-After says (with --hammer it sends again at once). After
the run the bench waits until the server is idle, then compares the decisions table with the answers: every 200
must have exactly one row, and a request the client gave up on (timed out) should have none.

Prints a markdown table (answers by status, p50/p99 of the 200s in ms as the clients saw them and as the
server logged them, rows recorded against 200s) and writes the JSON. Exits 1 when a 200 has no row or a row is
duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa
from http_load import database
from serving import ROOT, SETUP_HINT, targeting, uvicorn

from features.pipeline import entry_payloads


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    ok_ms: list[float] = field(default_factory=list)
    ok_ids: list[str] = field(default_factory=list)
    abandoned_ids: set[str] = field(default_factory=set)  # timed out or cut: the client gave up on them
    slowest_ms: float = 0.0
    examples: dict[str, str] = field(default_factory=dict)


def requests(entries: list[dict[str, Any]], tag: str) -> Iterator[tuple[str, bytes]]:
    """One-entry bodies without end, each with an entry id never sent before."""
    for i in itertools.count():
        entry = entries[i % len(entries)] | {"entry_id": f"OVERLOAD-{tag}-{i:07d}"}
        yield entry["entry_id"], json.dumps({"entries": [entry]}).encode()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a kept-alive connection and read its answer: status, headers, body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def drive(
    port: int,
    key: str,
    queue: Iterator[tuple[str, bytes]],
    connections: int,
    seconds: float,
    timeout: float,
    honour_retry_after: bool,
) -> Tally:
    """`connections` clients sending back to back for `seconds` over raw kept-alive connections (a light client,
    so that the machine's cores go to the server); each request's fate. A client that gets no answer within
    `timeout` closes its connection (the request is abandoned) and opens another."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    def request(body: bytes) -> bytes:
        return (
            f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def client() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < deadline:
            entry_id, body = next(queue)
            began = time.perf_counter()
            wait = 0.0
            try:
                async with asyncio.timeout(timeout):
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    code, headers, text = await _exchange(*connection, request(body))
                status = str(code)
                if code != 200:
                    retry = headers.get("retry-after")
                    tally.examples.setdefault(status, f"{text[:160].decode()} (Retry-After: {retry})")
                if code == 503:
                    wait = float(headers.get("retry-after", "1")) if honour_retry_after else 0.0
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                status = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                tally.abandoned_ids.add(entry_id)
                if connection is not None:
                    connection[1].close()
                connection = None
            elapsed = (time.perf_counter() - began) * 1000
            tally.slowest_ms = max(tally.slowest_ms, elapsed)
            tally.statuses[status] += 1
            if status == "200":
                tally.ok_ms.append(elapsed)
                tally.ok_ids.append(entry_id)
            if wait:
                await asyncio.sleep(min(wait, max(deadline - time.perf_counter(), 0)))
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return tally


def wait_idle(url: str, key: str, limit: float = 120.0) -> None:
    """Until the server answers a cheap request at once: whatever it still held has finished or failed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/model", headers={"Authorization": f"Bearer {key}"}, timeout=1).status_code == 200:
                time.sleep(1.0)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def rows_of(database_url: str, tag: str) -> list[str]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT entry_id FROM decisions WHERE entry_id LIKE :t"), {"t": f"OVERLOAD-{tag}-%"}
            )
        ]
    engine.dispose()
    return ids


def served_ms(log: Path, offset: int) -> tuple[list[float], int]:
    """The server's own time (admission to answer) of each scoring 200 it logged after byte `offset`."""
    with log.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    found = []
    for line in chunk.splitlines():
        if b'"/v1/score"' in line and b'"status": 200' in line:
            found.append(float(json.loads(line)["ms"]))
    return found, offset + len(chunk)


def point(tally: Tally, served: list[float], rows: list[str], connections: int, seconds: float) -> dict[str, Any]:
    ok, recorded = set(tally.ok_ids), set(rows)

    def pct(values: list[float], q: int) -> float | None:
        return round(float(np.percentile(values, q)), 1) if values else None

    return {
        "connections": connections,
        "answers": dict(sorted(tally.statuses.items())),
        "ok_per_s": round(len(tally.ok_ids) / seconds, 1),
        "p50_ms_200": pct(tally.ok_ms, 50),
        "p99_ms_200": pct(tally.ok_ms, 99),
        "server_p50_ms_200": pct(served, 50),
        "server_p99_ms_200": pct(served, 99),
        "slowest_answer_ms": round(tally.slowest_ms, 1),
        "rows": len(rows),
        "ok": len(ok),
        "ok_without_row": len(ok - recorded),
        "duplicate_rows": len(rows) - len(recorded),
        "rows_of_abandoned": len(recorded & tally.abandoned_ids),
        "examples": tally.examples,
    }


def run_backend(kind: str, args: argparse.Namespace, entries: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    tag = secrets.token_hex(4)
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")}
    out = []
    folder = tmp / kind
    folder.mkdir()
    with database(kind, tag, folder) as url:
        env["DATABASE_URL"] = url
        targeting(["db", "upgrade"], env)
        targeting(["history", "load", "--data", str(args.data)], env)
        created = targeting(["keys", "create", "--name", f"overload-{tag}", "--role", "scorer"], env)
        key = created.strip().splitlines()[-1]
        serve_env = {
            **env,
            "TARGETING_MODEL_POLL_SECONDS": "0",
            "TARGETING_DRIFT_REFRESH_SECONDS": "0",
            "OMP_NUM_THREADS": "1",
            "TARGETING_MODEL_CACHE": str(folder / "cache"),
        }
        log = folder / "serve.log"
        with uvicorn("service.app:app_from_env", 1, serve_env, log) as (port, _):
            base, offset = f"http://127.0.0.1:{port}", 0
            for connections in args.connections:
                run_tag = f"{tag}{connections}"
                queue = requests(entries, run_tag)
                tally = asyncio.run(drive(port, key, queue, connections, args.seconds, args.timeout, not args.hammer))
                wait_idle(base, key)
                served, offset = served_ms(log, offset)
                result = {"backend": kind, **point(tally, served, rows_of(url, run_tag), connections, args.seconds)}
                print(json.dumps(result), flush=True)
                out.append(result)
    return out


def table(points: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | connections | answers by status | 200/s | 200s p50 / p99 (ms), client | the same, server "
        "| slowest answer (ms) | rows / 200s | 200s without row | rows of abandoned requests |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        answers = ", ".join(f"{k}: {v:,}" for k, v in p["answers"].items())
        lines.append(
            f"| {p['backend']} | {p['connections']} | {answers} | {p['ok_per_s']} | {p['p50_ms_200']} / "
            f"{p['p99_ms_200']} | {p['server_p50_ms_200']} / {p['server_p99_ms_200']} | "
            f"{p['slowest_answer_ms']:,.0f} | {p['rows']:,} / {p['ok']:,} | "
            f"{p['ok_without_row']} | {p['rows_of_abandoned']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="a client gives up on a request after this")
    parser.add_argument(
        "--hammer",
        action="store_true",
        help="clients send again at once after a 503 instead of waiting as its Retry-After says",
    )
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/overload.json")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} is missing: {SETUP_HINT}")
    entries = entry_payloads(pd.read_parquet(args.data).sample(2000, random_state=3))
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        for kind in args.backends:
            points += run_backend(kind, args, entries, Path(tmp))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "seconds": args.seconds,
                "timeout": args.timeout,
                "hammer": args.hammer,
                "points": points,
            },
            indent=2,
        )
        + "\n"
    )
    print(table(points))
    print(f"wrote {args.json}")
    if any(p["ok_without_row"] or p["duplicate_rows"] for p in points):
        sys.exit(1)


if __name__ == "__main__":
    main()
