"""bench/soak.py's summary of a run and its markdown table."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil
import psycopg

if TYPE_CHECKING:
    from soak import Phase


def summary(run: dict[str, Any], decisions: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    measured, warmup, before, after = run["measured"], run["warmup"], run["before"], run["after"]
    quantiles = (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))

    def percentiles(values: list[float]) -> dict[str, float]:
        return {name: round(float(np.percentile(values, q)), 1) if values else float("nan") for name, q in quantiles}

    config = {
        "rate": args.rate,
        "seconds": args.seconds,
        "workers": args.workers,
        "warmup": args.warmup,
        "connections": args.connections,
        "timeout": args.timeout,
        "cores": os.cpu_count(),
    }
    return {
        "config": config,
        "requests": measured.sent,
        "statuses": dict(measured.statuses),
        "errors": measured.sent - measured.ok,
        "send_rate": round((measured.sent - 1) / (measured.last_sent - measured.started), 2),
        "throughput": round(measured.ok / (measured.finished - measured.started), 2),
        "latency_ms": percentiles(measured.latencies_ms),  # a timeout counts at its latency, about --timeout
        "latency_ms_of_200s": percentiles(measured.ok_latencies_ms),
        "rss_start": before,
        "rss_end": after,
        "rss_growth_pct": round(100 * (after["total_mb"] - before["total_mb"]) / before["total_mb"], 1),
        "rss_timeline": run["timeline"],
        # per decision the measured phase made (a request the caller gave up on may still be decided)
        "server_cpu_ms_per_decision": round(1000 * run["server_cpu_s"] / max(decisions["rows"] - warmup.ok, 1), 1),
        "load_average_1_5_15": {"after_warmup": run["load_average"][0], "end": run["load_average"][1]},
        "error_examples": measured.examples,
        "warmup": {"requests": warmup.sent, "statuses": dict(warmup.statuses)},
        "decisions": decisions,
    }


def table(s: dict[str, Any]) -> str:
    c, d = s["config"], s["decisions"]

    def latency(lat: dict[str, float]) -> str:
        return " / ".join(f"{lat[q]:,.1f}" for q in ("p50", "p90", "p99", "max"))

    def workers(rss: dict[str, Any]) -> str:
        return " + ".join(f"{p['rss_mb']:.0f}" for p in rss["processes"] if p["role"] == "worker")

    return "\n".join(
        [
            f"Soak: {c['rate']:g} req/s for {c['seconds']:g} s, one entry per request, {c['workers']} workers, "
            f"{c['cores']} cores shared by client, server and PostgreSQL",
            "",
            "| measure | value |",
            "|---|---|",
            f"| requests sent | {s['requests']:,} |",
            f"| responses by status | {', '.join(f'{k}: {v:,}' for k, v in sorted(s['statuses'].items()))} |",
            f"| errors (non-200 or exception) | {s['errors']:,} |",
            f"| send rate / 200s per second | {s['send_rate']:.2f} / {s['throughput']:.2f} |",
            f"| latency p50 / p90 / p99 / max (ms), all requests | {latency(s['latency_ms'])} |",
            f"| the same, of the 200s only | {latency(s['latency_ms_of_200s'])} |",
            f"| RSS after warm-up (MB: total; workers) | {s['rss_start']['total_mb']:.0f}; {workers(s['rss_start'])} |",
            f"| RSS at end (MB: total; workers) | {s['rss_end']['total_mb']:.0f}; {workers(s['rss_end'])} |",
            f"| RSS growth | {s['rss_growth_pct']:+.1f} % |",
            f"| server CPU per decision (ms, parent + workers) | {s['server_cpu_ms_per_decision']:.1f} |",
            f"| load average (1 min) after warm-up / at end | {s['load_average_1_5_15']['after_warmup'][0]:.2f} / "
            f"{s['load_average_1_5_15']['end'][0]:.2f} |",
            f"| decisions rows / 200 responses (warm-up included) | {d['rows']:,} / {d['ok_responses']:,} |",
            f"| 200s without a row / rows of failed requests / rows unaccounted | {d['ok_without_row']:,} / "
            f"{d['rows_of_failed_requests']:,} / {d['rows_unaccounted']:,} |",
        ]
    )


def rss_mb(parent: psutil.Process) -> dict[str, Any]:
    """RSS of the server's parent and of each process under it, and their sum, in MB."""
    each = []
    for p in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            # uvicorn spawns its workers; multiprocessing may start a resource tracker beside them
            role = "parent" if p is parent else ("helper" if "resource_tracker" in " ".join(p.cmdline()) else "worker")
            each.append({"pid": p.pid, "role": role, "rss_mb": round(p.memory_info().rss / 2**20, 1)})
    return {"total_mb": round(sum(p["rss_mb"] for p in each), 1), "processes": each}


def cpu_seconds(parent: psutil.Process) -> float:
    """CPU time (user + system) used so far by the server's processes."""
    total = 0.0
    for p in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def check_decisions(database_url: str, warmup: Phase, measured: Phase) -> dict[str, int]:
    """The decisions table against the responses: one row per 200, none unaccounted for."""
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        ids = [row[0] for row in conn.execute("SELECT entry_id FROM decisions")]
    recorded, ok, failed = set(ids), warmup.ok_ids | measured.ok_ids, warmup.failed_ids | measured.failed_ids
    return {
        "rows": len(ids),
        "ok_responses": len(ok),
        "ok_without_row": len(ok - recorded),
        "rows_of_failed_requests": len(recorded & failed),  # decided after the client gave up waiting
        "rows_unaccounted": len(recorded - ok - failed),
        "duplicate_rows": len(ids) - len(recorded),
    }
