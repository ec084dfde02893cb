"""One table from the benchmarks' results, against the goals: markdown and JSON.

    .venv/bin/python bench/summary.py [--results bench/results]

Reads what `make bench` leaves in bench/results (treeshap.json, service_path.json, http.json,
batch.json, shape.json, desk.json; a missing file is reported as not measured) and writes summary.md and
summary.json beside them. The README's Performance section is this table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MISSING = "not measured"


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(measure: str, result: str, goal: str, met: bool | None, source: str) -> dict[str, Any]:
    return {"measure": measure, "result": result, "goal": goal, "met": met, "source": source}


def _treeshap(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("treeshap*.json")):
        ts = json.loads(path.read_text())
        m, single = ts["model"], ts["figures"]["single rows, 1 thread"]
        out.append(
            _row(
                f"TreeSHAP per core, single rows ({m['trees']} trees × {m['leaves']} leaves)",
                f"{single['treeshap_us']:.0f} µs vs pred_contrib {single['lightgbm_us']:.0f} µs: "
                f"{single['ratio']:.1f}x (max difference {single['max_abs_diff']:.0e})",
                "≥ 3x pred_contrib",
                single["ratio"] >= 3,
                "bench/treeshap.py",
            )
        )
    return out


def _service_path(sp: dict[str, Any]) -> list[dict[str, Any]]:
    source, where = "bench/service_path.py", sp["database"]
    return [
        _row(
            f"service path in process, 1 entry ({where})",
            f"{sp['service_1_us']:.0f} µs vs floor {sp['floor_1_us']:.0f} µs: {sp['ratio_1']:.2f}x",
            "≤ 3x floor",
            sp["ratio_1"] <= 3,
            source,
        ),
        _row(
            f"service path in process, batches of 100 ({where})",
            f"{sp['service_100_us']:.0f} µs/entry vs floor {sp['floor_100_us']:.0f}: {sp['ratio_100']:.2f}x",
            "≤ 1.5x floor",
            sp["ratio_100"] <= 1.5,
            source,
        ),
    ]


def _http(http: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    goals = {(g["database"], g["workers"]): g for g in http["goals"]}
    for point in http["scoring"]:
        if point["entries"] != 1 or point["connections"] != 16 or point["percent_of_bare"] is None:
            continue
        where = f"{point['database']}, {point['workers']} worker{'s' if point['workers'] > 1 else ''}"
        goal = goals[(point["database"], point["workers"])]
        out.append(
            _row(
                f"HTTP single entry, 16 connections ({where})",
                f"{point['score']['requests_per_s']:.0f} req/s = {point['percent_of_bare']:.0f} % of the bare "
                f"app's {point['bare']['requests_per_s']:.0f}; p99/p50 {point['p99_over_p50']:.1f}",
                f"≥ {goal['share_goal']:.0f} % of the bare app, p99 < 4x p50",
                goal["share_met"] and goal["tail_met"],
                "bench/http_load.py",
            )
        )
    return out


def _batch(batch: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, label in (("score_one_process", "one process"), ("score_dask_local", "--dask, local cluster")):
        r = batch[name]
        out.append(
            _row(
                f"batch of {batch['entries']:,} with explanations ({label})",
                f"{r['seconds']:.0f} s, {r['entries_per_s']:,} entries/s = {r['of_floor']:.0%} of the floor's "
                f"{batch['floor_entries_per_s']:,}; peak RSS {r['peak_rss_mb']:,} MB",
                "≥ 80 % of floor, < 10 min, < 2 GB",
                r["of_floor"] >= 0.8 and r["seconds"] < 600 and r["peak_rss_mb"] < 2048,
                "bench/batch.py",
            )
        )
    if "train" in batch:
        t = batch["train"]
        out.append(
            _row(
                f"training on {batch['entries']:,} entries",
                f"{t['seconds']:.0f} s, peak RSS {t['peak_rss_mb']:,} MB",
                "< 5 min",
                t["seconds"] < 300,
                "bench/batch.py",
            )
        )
    return out


def _shape(shape: dict[str, Any]) -> list[dict[str, Any]]:
    c = shape["chosen"]
    return [
        _row(
            "model shape (default)",
            f"{c['num_leaves']} leaves, {c['trees']} trees: precision@5 % {c['precision_at_5pct']:.4f} "
            f"({c['precision_at_5pct'] / shape['best']:.1%} of the best {shape['best']:.4f}), "
            f"TreeSHAP {c['treeshap_us']:.0f} µs",
            "≥ 98 % of best precision, cheapest",
            True,
            "bench/shape.py",
        )
    ]


def _desk(desk: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for backend, r in desk["backends"].items():
        goal = r["goal"]
        out.append(
            _row(
                f"reviewer's desk, {desk['decisions']:,} decisions ({backend})",
                f"slowest page p95 {goal['slowest_p95_ms']:.0f} ms ({goal['slowest_page']}); first queue page p95 "
                f"{r['queue']['first page']['ms']['p95']:.0f} ms, "
                f"{r['without_indexes']['first page']['ms']['p50']:,.0f} ms without the desk's indexes",
                f"every page < {goal['page_p95_under_ms']:.0f} ms",
                goal["met"],
                "bench/desk.py",
            )
        )
    return out


SOURCES = {"service_path": _service_path, "http": _http, "batch": _batch, "shape": _shape, "desk": _desk}


def rows(folder: Path) -> list[dict[str, Any]]:
    """(measure, result, goal, met) rows, in the order of the issue's goals."""
    out = _treeshap(folder)
    for name, make in SOURCES.items():
        found = _load(folder, name)
        out += make(found) if found else []
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| measure | result | goal | met |", "|---|---|---|---|"]
    for r in table:
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(f"| {r['measure']} | {r['result']} | {r['goal']} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("bench/results"))
    folder = parser.parse_args().results
    table = rows(folder)
    missing = [n for n in ("treeshap", "service_path", "http", "batch", "shape", "desk") if _load(folder, n) is None]
    text = markdown(table) + (f"\n{MISSING}: {', '.join(missing)}\n" if missing else "")
    (folder / "summary.md").write_text(text)
    (folder / "summary.json").write_text(json.dumps({"rows": table, "missing": missing}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
