"""The account risk level ranks accounts by how often their entries violate later, on generated data whose truth
is known; and bonds are set from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from decisions import accounts, migrate, store
from decisions.decide import PolicyInForce, decide
from decisions.policy import Policy
from decisions.store.decisions import PARTIES
from features.history import HistoryProfiles
from features.pipeline import entry_payloads, prepare
from features.schema import Entry
from features.spec import BUILTIN_SPEC
from model.scoring import Scorer

LATER_ENTRIES = 20  # importers with fewer entries in the later window are left out of the comparison


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'accounts.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _counted(session: Session) -> tuple[dict[Any, tuple[int, int]], dict[Any, tuple[int, int, int]]]:
    """The score sums of the parties' profiles (not of the heading x origin combination, which no decision
    column holds), and the account days; sums rounded, as they are added in another order."""
    profiles = session.execute(select(store.Profile).where(store.Profile.entity.in_(PARTIES))).scalars()
    days = session.execute(select(store.accounts.AccountDay)).scalars()
    return (
        {(p.entity, p.key): (p.scored, round(p.score_sum * 1e6)) for p in profiles},
        {(d.entity, d.key, d.day): (d.entries, round(d.score_sum * 1e6), round(d.expected_revenue)) for d in days},
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1])


def test_the_risk_level_ranks_importers_by_their_later_violation_rate(
    engine: Engine, history: pd.DataFrame, scorer: Scorer
) -> None:
    """The service's state after loading the first half of a history and deciding the next tenth (the scoring
    path: profiles bumped with each entry's score); the truth of the last 40 % judges the ranking. The model
    was fitted on the whole history's inspected entries; importer ids are not among its features."""
    n = len(history)
    past, recent, later = history.iloc[: n // 2], history.iloc[n // 2 : n * 6 // 10], history.iloc[n * 6 // 10 :]
    rules = PolicyInForce(1, Policy(), b"accounts-test")
    with Session(engine) as session:
        rows = prepare(past, BUILTIN_SPEC)
        store.replace_profiles(
            session, HistoryProfiles.from_frame(rows, BUILTIN_SPEC, as_of=pd.Timestamp.now(tz="UTC")).counts
        )
        payloads = entry_payloads(recent)
        for start in range(0, len(payloads), 500):
            batch = [Entry.model_validate(p) for p in payloads[start : start + 500]]
            decide(session, scorer, rules, batch, "accounts-test", top=3)
        session.commit()
        counted = _counted(session)
        store.accounts.recount_from_decisions(session)  # as `targeting history load` does after replacing profiles
        assert _counted(session) == counted and len(counted[0]) > 500 and len(counted[1]) > 500
        listed, more = accounts.riskiest(session, "importer", Policy().probability, datetime.now(UTC), 100_000)
    assert more is None
    risk = pd.Series({a.key: a.risk.rate for a in listed})
    truth = later.groupby("importer_id")["truth_violation"].agg(["mean", "size"])
    truth = truth[truth["size"] >= LATER_ENTRIES].join(risk.rename("risk"), how="inner")
    assert len(truth) >= 100
    rho = _spearman(truth["risk"].to_numpy(), truth["mean"].to_numpy())
    fifths = pd.qcut(truth["risk"].rank(method="first"), 5, labels=False)
    rates = truth.groupby(fifths)["mean"].mean()
    print(
        f"importers {len(truth)}, spearman {rho:.3f}, later violation rate by fifth of risk {rates.round(4).tolist()}"
    )
    assert rho > 0.25
    assert rates.iloc[-1] > 5 * rates.iloc[0]  # the riskiest fifth violates 5 times as often as the safest, or more


def test_a_bond_is_set_and_removed_from_the_command_line(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    done = runner.invoke(app, ["bond", "set", "12-3456789AB", "250000"])
    assert done.exit_code == 0, done.output
    with Session(engine) as session:
        assert [(b.importer_id, b.amount_usd) for b in store.accounts.bonds(session)] == [("12-3456789AB", 250000.0)]
    assert runner.invoke(app, ["bond", "remove", "12-3456789AB"]).exit_code == 0
    gone = runner.invoke(app, ["bond", "remove", "12-3456789AB"])
    assert gone.exit_code == 2 and "has no bond" in gone.output
