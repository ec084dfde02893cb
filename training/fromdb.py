"""Training data from the service's own records: each decided entry once, as it was received, with the
inspection's outcome where one was recorded and why the entry was inspected, so that the selection-bias
correction (inverse selection probability) applies to the service's own history."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from decisions import migrate, store
from features.schema import Entry
from features.spec import BUILTIN_SPEC
from training.data import DataError

LABEL, REVENUE, OUTCOME_AT = BUILTIN_SPEC.label, str(BUILTIN_SPEC.revenue), str(BUILTIN_SPEC.outcome_time)
SELECTION, CHANCE = str(BUILTIN_SPEC.selection), str(BUILTIN_SPEC.selection_probability)


def history_from_db(database_url: str) -> pd.DataFrame:
    """One row per decided entry in the built-in entry schema: label, revenue, outcome time, selection."""
    engine = store.make_engine(database_url)
    try:
        migrate.check(engine)
        with Session(engine) as session:
            pairs = store.decisions_with_outcomes(session)
    except migrate.SchemaOutdated as exc:
        raise DataError(str(exc)) from exc
    finally:
        engine.dispose()
    if not pairs:
        raise DataError(f"no decisions in {database_url}: score entries before training from them")
    rows = []
    for decision, outcome in pairs:
        row = Entry.model_validate(decision.entry).model_dump(mode="json")  # recorded as sent: normalise it
        if outcome is None:
            row |= {
                LABEL: np.nan,
                REVENUE: np.nan,
                OUTCOME_AT: pd.NaT,
                SELECTION: None,
                CHANCE: decision.selection_probability,
            }
        else:
            # a random-sample or exploration pick had the chance its decision records; a pick by model, rule,
            # officer or the post-release audit lane (outcomes `selected_by: audit`, labels like any other) was certain
            chance = decision.selection_probability if outcome.selected_by in ("random", "explore") else 1.0
            row |= {
                LABEL: float(outcome.violation),
                REVENUE: outcome.revenue_recovered,
                OUTCOME_AT: outcome.recorded_at,
                SELECTION: outcome.selected_by,
                CHANCE: chance,
                str(BUILTIN_SPEC.violation_type): outcome.violation_types[0] if outcome.violation_types else None,
            }
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame[BUILTIN_SPEC.timestamp] = pd.to_datetime(frame[BUILTIN_SPEC.timestamp], utc=True, format="ISO8601")
    frame[OUTCOME_AT] = pd.to_datetime(frame[OUTCOME_AT], utc=True)
    return frame.sort_values(BUILTIN_SPEC.timestamp, kind="stable").reset_index(drop=True)
