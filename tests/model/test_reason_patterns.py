"""The top reason of a flagged violation names its pattern's signal, on a model trained as `make up` trains one
(200,000 generated entries, the default shape search) and violations it never saw labelled."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from features.definitions import PRICES, SIGNALLED, SIGNALS
from features.history import point_in_time_counts
from features.pipeline import entry_payloads, prepare
from model.scoring import Scorer
from training.data import time_split, validate
from training.synth import SynthConfig, generate
from training.train import train

pytestmark = pytest.mark.slow
EACH = 20


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scorer, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("patterns")
    history = generate(SynthConfig(entries=200_000, seed=8))
    history.to_parquet(folder / "entries.parquet", index=False)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    train(folder / "entries.parquet", uri=uri)
    return Scorer.load(uri, "shipment-risk", "champion", folder / "cache"), history


def _names(reason: dict[str, Any], pattern: str) -> bool:
    """Whether a reason names the pattern's signal: one of its signal features (features/definitions.py, after
    docs/domain.md), a low price for counterfeit (decisions/patterns.py), or a category whose violations in
    training followed that pattern, among their commonest types."""
    kind = SIGNALS.get(reason["feature"])
    if reason["feature"] in PRICES and pattern == "counterfeit":
        return True
    found = reason["sentence"].split(" violations: ", 1)[1] if " violations: " in reason["sentence"] else ""
    return (kind is not None and kind.value == pattern) or f"{pattern.replace('_', ' ')} " in found


def test_the_top_reason_names_the_planted_patterns_signal(trained: tuple[Scorer, pd.DataFrame]) -> None:
    """Per pattern with signals, the 20 highest-scored violations of the test window that were not inspected
    (their labels unseen): those an officer would be sent to."""
    scorer, history = trained
    spec = scorer.pipeline.spec
    rows = prepare(validate(history, spec), spec)
    counts = point_in_time_counts(rows, spec)
    tested = time_split(rows, spec).masks(rows[spec.timestamp])[2]
    named, said = {}, []
    for pattern in SIGNALLED:
        unseen = rows.index[tested & (rows["truth_violation_type"] == pattern.value) & rows[spec.label].isna()]
        batch = scorer.features.batch(
            scorer.features.rows(entry_payloads(rows.loc[unseen])),
            {c: counts.loc[unseen, c].to_numpy(dtype=float) for c in counts.columns},
        )
        top = sorted(scorer.score(batch, top=5), key=lambda r: -r.score)[:EACH]
        named[pattern.value] = sum(_names(r.reasons[0], pattern.value) for r in top)
        said += [f"{pattern.value} {r.score:.3f}: {r.reasons[0]['sentence']}" for r in top]
    print(f"top reason names the planted pattern's signal, of {EACH}: {named}")
    assert all(n >= 0.8 * EACH for n in named.values()), (named, said)
