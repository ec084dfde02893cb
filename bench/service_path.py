"""The service path in process against the model's floor, per entry, with the served model.

    .venv/bin/python bench/service_path.py [--entries 2000] [--database-url URL] [--json PATH] [--profile]

The floor is what cannot be avoided: the served model's own calls on prepared numpy rows, one thread, as
`Scorer.score` makes them: the project's exact TreeSHAP of the risk model (whose sum is the prediction) and the
revenue model's `predict`. The service path is everything a `POST /v1/score` does but HTTP:
the JSON body parsed and validated, history looked up, features built, scored and explained, the
policy applied, the decision recorded and committed, and the response serialised. Both run on the
same entries (from data/entries.parquet, given fresh entry ids), single entries and batches of 100.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import sessionmaker

from decisions import migrate, store
from decisions.decide import decide
from decisions.policy import Policy
from features.history import HistoryProfiles
from features.pipeline import entry_payloads, prepare
from model.scoring import Scorer
from service.api.score import to_out
from service.deps import Policies
from service.schemas import ScoreRequest, ScoreResponse
from training.data import read_table, validate


def per_entry(run: Callable[[list[Any]], None], payloads: list[Any], size: int, seconds: float) -> float:
    """Mean seconds per entry of `run` over consecutive slices of `size` entries, for about `seconds`."""
    began, done, at = time.perf_counter(), 0, 0
    while time.perf_counter() - began < seconds and at + size <= len(payloads):
        run(payloads[at : at + size])
        at += size
        done += size
    return (time.perf_counter() - began) / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=int, default=0, help="print a pyinstrument profile of batches of this size")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp()
    scorer = Scorer.load(args.tracking_uri, "shipment-risk", "champion", Path(tmp) / "cache")
    spec = scorer.pipeline.spec
    history = prepare(validate(read_table(args.data), spec), spec)
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    engine = store.make_engine(url)
    migrate.prepare(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        store.replace_profiles(session, HistoryProfiles.from_frame(history, spec, pd.Timestamp.now(tz="UTC")).counts)
        store.add_policy(session, Policy().model_dump(mode="json"), "bench", "")
        session.commit()
    policies = Policies(b"bench")  # the version in force checked per request, as the service does

    raw = read_table(args.data).sample(args.entries * 3, random_state=1)
    payloads = entry_payloads(raw)  # as a targeting system sends them (booleans as booleans)
    sample = prepare(validate(raw, spec), spec)
    for i, p in enumerate(payloads):
        p["entry_id"] = f"BENCH-{os.getpid()}-{i}"
    features = scorer.pipeline.transform(
        sample, HistoryProfiles.from_frame(history, spec, sample["filed_at"].min()).lookup(sample)
    ).to_numpy(dtype=float)
    booster, revenue = scorer.model.booster, scorer.model.revenue

    def floor(rows: np.ndarray) -> None:
        scorer.contributions(rows)
        if revenue is not None:
            revenue.given_violation(rows)

    def service(batch: list[dict]) -> None:
        body = json.dumps({"entries": batch}).encode()
        request = ScoreRequest.model_validate_json(body)
        with sessions() as session:
            rules = policies.in_force(session)
            decisions, replayed = decide(session, scorer, rules, request.entries, "bench", 3)
            session.commit()
            ScoreResponse(
                request_id="bench", decisions=[to_out(d, d.entry_id in replayed) for d in decisions]
            ).model_dump_json()

    results: dict[str, float] = {}
    for size in (1, 100):
        results[f"floor_{size}"] = per_entry(
            lambda b: floor(features[b[0] : b[-1] + 1]), list(range(len(features))), size, args.seconds
        )
    third = len(payloads) // 3
    service(payloads[:1])  # warm: first request compiles and connects
    if args.profile:
        from pyinstrument import Profiler

        with Profiler(interval=0.0002) as profiler:
            per_entry(service, payloads[1:third], args.profile, args.seconds)
        profiler.print(show_all=False)
    results["service_1"] = per_entry(service, payloads[1:third], 1, args.seconds)
    results["service_100"] = per_entry(service, payloads[third:], 100, args.seconds)
    table = {
        "model": f"{scorer.ref.name} v{scorer.ref.version}: {booster.num_trees()} trees, "
        f"{booster.num_feature()} features",
        "database": engine.dialect.name,
        **{f"{k}_us": round(v * 1e6, 1) for k, v in results.items()},
        "ratio_1": round(results["service_1"] / results["floor_1"], 2),
        "ratio_100": round(results["service_100"] / results["floor_100"], 2),
    }
    print(json.dumps(table, indent=1))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
