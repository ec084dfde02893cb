"""`targeting train --from-db`: the service's decisions and outcomes become a training set that keeps
each outcome and why the entry was inspected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from decisions import outcomes, store
from decisions.decide import PolicyInForce, decide
from decisions.policy import Policy
from features.pipeline import entry_payloads
from features.schema import Entry
from model.scoring import Scorer
from service.schemas import OutcomeIn
from tests.live import migrated
from training.fromdb import history_from_db
from training.train import train


@pytest.mark.slow
def test_training_from_the_service_records(
    empty_database: str, scorer: Scorer, history: pd.DataFrame, tmp_path: Path, mlflow_uri: str
) -> None:
    url = migrated(empty_database)
    # a third of the inspected entries of the history and as many released ones, across the whole period
    inspected = history.index[history["violation"].notna()][::3]
    released = history.index[history["violation"].isna()][:: len(history) // len(inspected)]
    rows = history.loc[sorted({*inspected, *released})]
    rows = rows.assign(entry_id="DB-" + rows["entry_id"].astype(str))
    payloads = entry_payloads(rows)
    engine = store.make_engine(url)
    rules = PolicyInForce(1, Policy(), b"a-secret-of-sixteen-bytes")
    with Session(engine) as session:
        for start in range(0, len(payloads), 500):
            batch = [Entry.model_validate(p) for p in payloads[start : start + 500]]
            decide(session, scorer, rules, batch, "from-db-test", 3)
        session.commit()
        for (_, row), payload in zip(rows.iterrows(), payloads):
            if pd.isna(row["violation"]):
                continue
            kinds = [row["violation_type"]] if row["violation"] == 1 else []
            body = OutcomeIn(
                entry_id=payload["entry_id"],
                inspected_at=row["filed_at"] + timedelta(days=3),
                violation_types=kinds,
                revenue_recovered=float(row["revenue_at_stake"] or 0),
                selected_by="random" if row["selection"] == "random" else "model",
            )
            outcomes.record(session, scorer, body, "from-db-test")
        session.commit()
    engine.dispose()

    frame = history_from_db(url)
    assert len(frame) == len(rows) and frame["entry_id"].is_unique
    by_id = frame.set_index("entry_id")
    expected = rows.set_index("entry_id")
    assert np.array_equal(
        by_id.loc[expected.index, "violation"].to_numpy(), expected["violation"].to_numpy(), equal_nan=True
    )
    sampled = expected.index[expected["selection"] == "random"]
    assert (by_id.loc[sampled, "selection"] == "random").all()
    # a random pick keeps the chance the service's policy gave it (the sample's rate unless the model picked it too)
    engine = store.make_engine(url)
    with Session(engine) as session:
        chance = {d.entry_id: d.selection_probability for d, _ in store.decisions_with_outcomes(session)}
    engine.dispose()
    assert (by_id.loc[sampled, "selection_probability"] == [chance[i] for i in sampled]).all()
    # both kinds are there (the share the model picks too depends on its calibration: 11 of 17 on this history)
    assert (by_id.loc[sampled, "selection_probability"] == Policy().exploration.rate).any()
    assert (by_id.loc[sampled, "selection_probability"] == 1.0).any()
    assert (by_id.loc[expected.index[expected["selection"] == "policy"], "selection_probability"] == 1.0).all()
    assert (by_id["hts_code"] == expected["hts_code"]).all()

    data = tmp_path / "from-db.parquet"
    frame.to_parquet(data, index=False)
    result = train(data, uri=mlflow_uri, shape="fixed")
    assert result.registration.version == 1 and result.metrics["n"] > 0
