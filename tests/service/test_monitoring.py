"""Drift over recorded decisions: traffic like the training reference is not flagged; the same traffic with
declared values planted ten times higher (but on de minimis parcels, which must stay under $800) is, on the
value features and not on others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from decisions import store
from decisions.decide import PolicyInForce, decide
from decisions.policy import Policy
from features.history import HistoryProfiles
from features.pipeline import prepare
from features.schema import Entry
from features.spec import BUILTIN_SPEC
from model.scoring import Scorer
from service.monitoring import DriftMonitor, drift, expected_precision
from service.observe import Metrics
from tests.live import migrated
from tests.service.entries import entry_json

VALUE_FEATURES = {"declared_value_usd", "unit_value", "value_per_kg", "unit_value_to_reference"}


def _decide(session: Session, scorer: Scorer, rows: list[dict[str, object]]) -> None:
    rules = PolicyInForce(1, Policy(), b"monitoring-test-secret")
    entries = [Entry.model_validate(r) for r in rows]
    for start in range(0, len(entries), 500):
        decide(session, scorer, rules, entries[start : start + 500], f"req-{uuid.uuid4().hex[:8]}", 5)
    session.commit()


def test_a_planted_shift_is_flagged_and_nothing_else(
    empty_database: str, scorer: Scorer, history: pd.DataFrame
) -> None:
    # the latest entries, as the reference (the model's test window) is the latest of its training data
    ordered = history.sort_values("filed_at")
    earlier, latest = ordered.index[:-1500], ordered.index[-1500:]
    rows = [entry_json(history, i) for i in latest]
    engine = store.make_engine(migrated(empty_database))
    with Session(engine) as session:
        # the accounts' histories up to then, as `targeting history load` puts them in the service database
        known = HistoryProfiles.from_frame(
            prepare(history.loc[earlier], BUILTIN_SPEC), BUILTIN_SPEC, as_of=ordered["filed_at"].iloc[-1500]
        )
        store.replace_profiles(session, known.counts)
        _decide(session, scorer, rows)
        steady = drift(session, scorer, days=1, limit=10_000)
        session.execute(delete(store.Decision))
        session.commit()
        _decide(
            session,
            scorer,
            [
                r
                | {
                    "entry_id": f"S{uuid.uuid4().hex[:20]}",
                    "declared_value_usd": float(r["declared_value_usd"]) * (1 if r["entry_type"] == "86" else 10),
                }  # type: ignore[arg-type]
                for r in rows
            ],
        )
        shifted = drift(session, scorer, days=1, limit=10_000)
    engine.dispose()

    assert steady.decisions == shifted.decisions == len(rows)
    assert {c.name for c in steady.columns} == {*scorer.pipeline.feature_names, "score"}
    assert steady.flagged == [], [(c.name, round(c.psi, 3)) for c in steady.flagged]
    by_name = {c.name: c for c in shifted.columns}
    for name in VALUE_FEATURES & set(by_name):
        assert by_name[name].flagged, (name, by_name[name].psi)
    for name in ("country_of_origin", "quantity", "gross_weight_kg", "mode_of_transport", "kg_per_unit"):
        assert not by_name[name].flagged and by_name[name].psi < 0.1, (name, by_name[name].psi)
    assert [c.psi for c in shifted.columns] == sorted((c.psi for c in shifted.columns), reverse=True)


def test_the_first_decisions_of_the_serving_version_show_at_once_not_at_the_next_round(
    empty_database: str, scorer: Scorer, history: pd.DataFrame
) -> None:
    engine = store.make_engine(migrated(empty_database))
    monitor = DriftMonitor(sessionmaker(engine), Metrics(), days=7, limit=10_000, every=300)
    before = monitor.latest(scorer)
    assert before.decisions == 0 and before.note.startswith("no decisions by version")
    assert monitor.next_round() == before.computed_at + timedelta(seconds=300)
    assert monitor.latest(scorer) is before  # nothing decided: the report stands, not recomputed
    with Session(engine) as session:
        _decide(
            session, scorer, [entry_json(history, i) | {"filed_at": datetime.now(UTC).isoformat()} for i in range(40)]
        )
    after = monitor.latest(scorer)  # the first view after the first decisions: recomputed
    assert after.decisions == 40 and after.computed_at > before.computed_at
    assert monitor.latest(scorer) is after  # and kept until the next round
    engine.dispose()


def test_expected_precision_is_the_mean_score_of_the_top_k_percent() -> None:
    scores = np.linspace(0.0, 0.99, 100)  # 0.00, 0.01, ..., 0.99
    expected = expected_precision(scores)
    assert expected["1pct"] == pytest.approx(0.99)  # the one highest
    assert expected["5pct"] == pytest.approx(np.mean([0.95, 0.96, 0.97, 0.98, 0.99]))
    assert expected["10pct"] == pytest.approx(0.945)
    assert expected_precision(np.array([0.3]))["10pct"] == 0.3 and expected_precision(np.array([])) == {}
