"""Requests decided together (decisions/decide.py's `prepare_many`, as the service's batcher groups the requests
in flight): the same decisions as the requests one after another, and a refused request holds up no other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from decisions import store
from decisions.decide import Decided, DuplicateEntry, EntryConflict, PolicyInForce, decide, prepare_many, record_all
from decisions.policy import Policy
from features.schema import Entry
from model.scoring import Scorer
from tests.live import migrated
from tests.service.entries import entry_json

RULES = PolicyInForce(1, Policy(), b"grouped-test-secret")
SAME = ("score", "raw_score", "action", "selection", "selection_probability", "reasons", "contributions", "entry")


def _session(tmp_path: Path, name: str) -> Session:
    return Session(store.make_engine(migrated(f"sqlite:///{tmp_path / name}.db")), expire_on_commit=False)


def _requests(history: pd.DataFrame) -> list[list[Entry]]:
    """Five requests of one or two entries, three of which share an importer, the later requests' filed earlier:
    a later request counts the earlier ones' entries whatever their dates, as recorded profiles would."""
    importer = history["importer_id"].value_counts().index[0]
    shared = history.index[history["importer_id"] == importer][:3].tolist()
    shared.sort(key=lambda i: history.loc[i, "filed_at"], reverse=True)
    others = [i for i in range(100, 200) if history.loc[i, "importer_id"] != importer][:4]
    rows = [[shared[0]], [others[0], shared[1]], [others[1]], [shared[2], others[2]], [others[3]]]
    return [[Entry.model_validate(entry_json(history, i)) for i in request] for request in rows]


def test_a_group_decides_as_its_requests_one_after_another(
    scorer: Scorer, history: pd.DataFrame, tmp_path: Path
) -> None:
    requests = _requests(history)
    with _session(tmp_path, "consecutive") as session:
        one_by_one = []
        for n, entries in enumerate(requests):
            one_by_one += decide(session, scorer, RULES, entries, f"r{n}", 3)[0]
            session.commit()
    with _session(tmp_path, "grouped") as session:
        grouped = prepare_many(session, scorer, RULES, [(e, f"r{n}") for n, e in enumerate(requests)], 3)
        assert all(isinstance(d, Decided) for d in grouped)
        record_all(session, [d for d in grouped if isinstance(d, Decided)])
        session.commit()
        together = [r for d in grouped if isinstance(d, Decided) for r in d.decisions]
    assert [r.entry_id for r in together] == [r.entry_id for r in one_by_one]
    assert [r.request_id for r in together] == [r.request_id for r in one_by_one]
    for a, b in zip(together, one_by_one):
        assert {f: getattr(a, f) for f in SAME} == {f: getattr(b, f) for f in SAME}
    prior = [next(c["value"] for c in r.contributions if c["feature"] == "importer_id_prior_entries") for r in together]
    assert prior[4] == prior[0] + 2  # the importer's third entry counts the two before it, filed later


def test_a_refused_request_holds_up_no_other(scorer: Scorer, history: pd.DataFrame, tmp_path: Path) -> None:
    first, second, third, fourth = (Entry.model_validate(entry_json(history, i)) for i in (300, 301, 302, 303))
    with _session(tmp_path, "refusals") as session:
        decide(session, scorer, RULES, [fourth], "before", 3)
        session.commit()
        changed = fourth.model_copy(update={"declared_value_usd": fourth.declared_value_usd + 1})
        requests = [([first], "a"), ([second, second], "b"), ([changed], "c"), ([third, fourth], "d")]
        found = prepare_many(session, scorer, RULES, requests, 3)
    assert isinstance(found[1], DuplicateEntry) and isinstance(found[2], EntryConflict)
    a, d = found[0], found[3]
    assert isinstance(a, Decided) and isinstance(d, Decided)
    assert [r.entry_id for r in a.new] == [first.entry_id] and a.replayed == set()
    assert [r.entry_id for r in d.new] == [third.entry_id] and d.replayed == {fourth.entry_id}
    assert [r.request_id for r in d.decisions] == ["d", "before"]  # the replay is the record made before


@pytest.mark.parametrize("size", [1, 3])
def test_an_empty_group_of_new_decisions_records_nothing(
    scorer: Scorer, history: pd.DataFrame, tmp_path: Path, size: int
) -> None:
    entries = [Entry.model_validate(entry_json(history, 400 + i)) for i in range(size)]
    with _session(tmp_path, f"replays{size}") as session:
        decide(session, scorer, RULES, entries, "first", 3)
        session.commit()
        (again,) = prepare_many(session, scorer, RULES, [(entries, "second")], 3)
        assert isinstance(again, Decided) and again.new == [] and again.replayed == {e.entry_id for e in entries}
        record_all(session, [again])
        session.commit()
        assert session.query(store.Decision).count() == size
