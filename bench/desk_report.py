"""bench/desk.py's markdown tables and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psutil
import psycopg
from desk_queue import NO_INDEX_CASES
from serving import ADMIN_URL, ROOT

# ---- report ----------------------------------------------------------------------------------------------------


def _ms(m: dict[str, float]) -> str:
    return f"{m['p50']:,.1f} / {m['p95']:,.1f} / {m['max']:,.1f}"


def tables(result: dict[str, Any]) -> str:
    kinds = list(result["backends"])
    rule = "|---|" + "---|---|" * len(kinds)
    out = [
        "| page | " + " | ".join(f"{k} p50 / p95 / max ms | {k} query in process, ms | {k} plan" for k in kinds) + " |",
        "|---|" + "---|---|---|" * len(kinds),
    ]
    first = result["backends"][kinds[0]]
    for name in [*first["queue"], *first["pages"]]:
        cells = []
        for k in kinds:
            b = result["backends"][k]
            page = b["queue"].get(name) or b["pages"][name]
            cells.append(f"{_ms(page['ms'])} | {page.get('in_process_query_ms_p50', '')} | {page.get('summary', '')}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| without the desk indexes | "
        + " | ".join(f"{k} p50 with / without ms | {k} plan without" for k in kinds)
        + " |",
        rule,
    ]
    for name in NO_INDEX_CASES:
        cells = [
            f"{result['backends'][k]['queue'][name]['ms']['p50']:,.1f} / "
            f"{result['backends'][k]['without_indexes'][name]['ms']['p50']:,.1f} | "
            f"{result['backends'][k]['without_indexes'][name]['summary']}"
            for k in kinds
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "| | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    facts = {
        "fill (build rows + insert)": lambda b: (
            f"{b['fill']['seconds']:,.0f} s ({b['fill']['build_rows_seconds']:,.0f}"
            f" + {b['fill']['insert_seconds']:,.0f}), {b['fill']['rows_per_s']:,} rows/s"
        ),
        "VACUUM ANALYZE after the fill": lambda b: f"{b['fill'].get('vacuum_analyze_seconds', '-')} s",
        "database size": lambda b: f"{b['size']['database_bytes'] / 2**30:,.2f} GiB",
        "drift computation (GET /v1/monitoring/drift?refresh=true)": lambda b: (
            f"{b['drift_computation']['ms']:,.0f} ms over {b['drift_computation']['decisions']:,} decisions"
        ),
        "recreating the desk indexes": lambda b: f"{b['index_creation_seconds']['total']:,.1f} s",
        "slowest page p95 (goal < 300 ms)": lambda b: (
            f"{b['goal']['slowest_p95_ms']:,.1f} ms "
            f"({b['goal']['slowest_page']}): {'met' if b['goal']['met'] else 'MISSED'}"
        ),
        "load average (1 min) at start / end": lambda b: (
            f"{b['load_average_1m_at_start']:.2f} / {b['load_average_1m_at_end']:.2f}"
        ),
    }
    for label, show in facts.items():
        out.append(f"| {label} | " + " | ".join(show(result["backends"][k]) for k in kinds) + " |")
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    with psycopg.connect(ADMIN_URL) as conn:
        postgres = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "load_average_1_5_15_at_start": list(os.getloadavg()),
        "commit": commit,
        "uncommitted": [line[3:] for line in changed],
    }
