"""One wrk run against a server of bench/http_load.py (the service, or the bare app), and what it measured."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
from http_report import statuses
from serving import ROOT
from soak_report import cpu_seconds

SETTLE_LIMIT = 180.0
ROUTE = "/v1/score"  # both servers answer here
SHED = "unmatched 503"  # how the service logs a request its admission bound turned away


def wrk(url: str, body: Path, key: str, connections: int, seconds: int, tag: str) -> dict[str, Any]:
    """One wrk run with bench/score.lua; the figures its `done` hook printed."""
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "60s",
        "--latency",
        "-s",
        str(ROOT / "bench/score.lua"),
        url,
        "--",
        str(body),
        key,
        tag,
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    found = [line.removeprefix("wrk-json ") for line in out.stdout.splitlines() if line.startswith("wrk-json ")]
    if out.returncode != 0 or not found:
        sys.exit(f"wrk failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    result: dict[str, Any] = json.loads(found[-1])
    return result


class Run:
    """One server under load: every wrk run against it, and, for the service, what its log says about each. The
    bare app (`sizes` given: the service's answer sizes, which it pads its answers to) logs nothing and keeps
    nothing in flight: what wrk counts is all there is."""

    def __init__(
        self,
        port: int,
        server: subprocess.Popen[bytes],
        log: Path,
        key: str,
        bodies: dict[int, Path],
        sizes: dict[int, int] | None = None,
    ) -> None:
        self.base, self.key, self.bodies, self.log = f"http://127.0.0.1:{port}", key, bodies, log
        self.process = psutil.Process(server.pid)
        self.offset = 0
        self.bare = sizes is not None
        self.sizes = sizes if sizes is not None else {n: self.response_size(n) for n in bodies}

    def response_size(self, entries: int) -> int:
        """The byte size of a real score response to the first of these bodies (one scored request, fresh ids)."""
        body = self.bodies[entries].read_text().splitlines()[0].replace("__ID__", f"SIZE-{secrets.token_hex(4)}")
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        answer = httpx.post(f"{self.base}{ROUTE}", content=body, headers=headers, timeout=60)
        if answer.status_code != 200:
            sys.exit(f"POST {ROUTE} answered {answer.status_code}: {answer.text[:500]}")
        return len(answer.content)

    def load(self, entries: int, connections: int, seconds: int) -> dict[str, Any]:
        """wrk on the scoring route, then (the service) wait until the server has finished every request wrk sent;
        wrk's figures and how the server says the requests ended."""
        path = ROUTE + (f"?size={self.sizes[entries]}" if self.bare else "")
        late: Counter[str] = Counter()
        if not self.bare:
            late, self.offset = statuses(self.log, self.offset)  # of an earlier run that did not settle
        load_before, cpu_before = os.getloadavg()[0], cpu_seconds(self.process)
        figures = wrk(self.base + path, self.bodies[entries], self.key, connections, seconds, secrets.token_hex(3))
        seen: Counter[str] = Counter()
        waited = 0.0 if self.bare else self.settle(figures["sent"], seen)
        if waited is None:
            print(
                f"  !! {figures['sent'] - sum(seen.values())} of {figures['sent']} requests still unfinished "
                f"{SETTLE_LIMIT:g} s after wrk stopped",
                flush=True,
            )
        cpu = cpu_seconds(self.process) - cpu_before
        return {
            "wrk": figures,
            "server_statuses": dict(seen),
            "late_from_before": dict(late),
            "settle_s": waited,
            "server_cpu_s": cpu,
            "load_average_1m": [load_before, os.getloadavg()[0]],
        }

    def settle(self, sent: int, seen: Counter[str]) -> float | None:
        """Wait until the server has logged how each of the `sent` requests ended, adding them to `seen`: a
        request wrk left in flight still runs after wrk exits, blocked on a lock or waiting for a database
        connection, using neither CPU nor its connection. The seconds waited; None past SETTLE_LIMIT."""
        began = time.perf_counter()
        while True:
            more, self.offset = statuses(self.log, self.offset)
            seen.update(more)
            if sum(seen.values()) >= sent:
                return round(time.perf_counter() - began, 2)
            if time.perf_counter() - began > SETTLE_LIMIT:
                return None
            time.sleep(0.2)


def point(
    kind: str, workers: int, entries: int, connections: int, endpoint: str, got: dict[str, Any], size: int
) -> dict[str, Any]:
    """One measured point (`endpoint`: score, or bare for the bare app)."""
    w = got["wrk"]
    seconds = w["duration_us"] / 1e6
    socket = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    served = {k: n for k, n in got["server_statuses"].items() if k.startswith(ROUTE + " ")}
    # answered 503 at once by the bound on requests in flight, before routing: load shed by design, not an error
    shed = got["server_statuses"].get(SHED, 0)
    rps = (w["requests"] - w["status_errors"]) / seconds  # the 200s: a shed answer is no request served
    # 499: the client left before its answer; wrk leaves only at its stop, with the requests then in flight
    abandoned = sum(n for k, n in served.items() if k.endswith(" 499"))
    not_ok = sum(n for k, n in served.items() if not k.endswith((" 200", " 499")))
    not_ok += sum(n for k, n in got["server_statuses"].items() if k.startswith("exception") and "Disconnect" not in k)
    answered = sum(served.values()) or w["requests"]  # the bare app logs nothing: what wrk saw answered
    return {
        "database": kind,
        "workers": workers,
        "entries": entries,
        "connections": connections,
        "endpoint": endpoint,
        "sent": w["sent"],
        "requests": w["requests"],
        "seconds": round(w["duration_us"] / 1e6, 2),
        "response_bytes": size,
        "requests_per_s": round(rps, 1),
        "answers_per_s": round(w["requests"] / seconds, 1),
        "shed": shed,
        "entries_per_s": round(rps * entries, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in w["latency_us"].items()},
        # the server's log also counts the requests in flight when wrk stopped, which wrk does not
        "errors": max(w["status_errors"] - shed, not_ok) + socket,
        "socket_errors": socket,
        "wrk_errors": {k: w[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")},
        "server_statuses": got["server_statuses"],
        "server_non_200": not_ok,
        "abandoned_at_stop": abandoned,
        # CPU of the server's processes (all workers) per request it served, in-flight ones included: what the
        # request costs, whatever share of the cores other processes took
        "server_cpu_ms_per_request": round(1000 * got["server_cpu_s"] / max(answered, 1), 2),
        "settle_s": got["settle_s"],
        "late_from_before": got["late_from_before"],
        "load_average_1m": got["load_average_1m"],
    }
