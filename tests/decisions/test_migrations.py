"""Schema migrations: the models match the head revision, and an upgrade from the previous revision keeps
every row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from decisions import migrate, store
from model.scoring import Scorer
from service.app import create_app
from service.settings import Settings


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = store.make_engine(empty_database)
    yield engine
    engine.dispose()


def test_the_head_revision_is_the_schema_the_code_declares(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), store.Base.metadata) == []
    assert migrate.current(engine) == migrate.head()


def test_alembic_finds_its_configuration_and_agrees(engine: Engine, empty_database: str) -> None:
    """`alembic check` from the repository (alembic.ini), as a developer writing a revision runs it."""
    migrate.upgrade(engine)
    root = Path(__file__).parents[2]
    alembic = Path(sys.executable).parent / "alembic"
    env = {**os.environ, "DATABASE_URL": empty_database}
    checked = subprocess.run([alembic, "check"], cwd=root, env=env, capture_output=True, text=True)
    assert checked.returncode == 0 and "No new upgrade operations detected" in checked.stdout + checked.stderr
    current = subprocess.run([alembic, "current"], cwd=root, env=env, capture_output=True, text=True)
    assert f"{migrate.head()} (head)" in current.stdout


# rows as the previous schema (0001) held them, written with plain SQL as the previous code would have
ROWS = {
    "policies": "INSERT INTO policies (version, document, created_at, created_by, note) "
    "VALUES (1, '{\"objective\": \"probability\"}', '2025-03-01 09:00:00+00:00', 'service start', 'from settings')",
    "decisions": "INSERT INTO decisions (id, entry_id, model_name, model_version, model_alias, decided_at, request_id, "
    "entry, entry_digest, score, raw_score, base_value, expected_revenue, ranking, policy_version, selection, "
    "selection_probability, risk_band, action, contributions, reasons) VALUES (7, 'ABC1234567-8', 'shipment-risk', 3, "
    "'champion', '2025-03-14 09:31:00+00:00', 'req-1',"
    ' \'{"entry_id": "ABC1234567-8", "description": "nails ü"}\','
    " 'd1', 0.31, -0.8, -3.1, 412.5, 'probability', 1, 'model', 1.0, 'high', 'non_intrusive_exam',"
    ' \'[{"feature": "x", "contribution": 0.5}]\', \'[]\')',
    "waivers": "INSERT INTO waivers (id, decision_id, action, reason, waived_by, waived_at) "
    "VALUES (1, 7, 'release', 'CF-28 answer documents the price', 'officer.j.doe', '2025-03-15 10:00:00+00:00')",
    "profiles": "INSERT INTO profiles (entity, key, entries, inspections, violations) "
    "VALUES ('importer_id', '12-3456789AB', 40, 3, 1)",
    "watchlists": "INSERT INTO watchlists (list_name, value, reason, added_by, added_at) "
    "VALUES ('manufacturers', 'CNSHELL1SHA', 'shell MID', 'analyst', '2025-02-01 00:00:00+00:00')",
    "alias_moves": "INSERT INTO alias_moves (id, model_name, alias, version, previous_version, moved_at, moved_by, "
    "reason, forced, metrics) VALUES (1, 'shipment-risk', 'champion', 3, 2, '2025-03-01 08:00:00+00:00', 'ds', "
    "'beat the champion', false, '{\"candidate\": {\"precision_at_5pct\": 0.6}}')",
}


def _snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    columns = {
        "policies": "version, created_by, note",
        "decisions": "id, entry_id, score, action, request_id",
        "waivers": "id, decision_id, reason, waived_by",
        "profiles": "entity, key, entries, violations",
        "watchlists": "list_name, value, reason",
        "alias_moves": "id, version, previous_version, reason",
    }
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT {c} FROM {t}"))] for t, c in columns.items()}


@pytest.mark.parametrize("before_migrations", [False, True], ids=["at-0001", "unversioned"])
def test_upgrade_from_the_previous_schema_loses_nothing(engine: Engine, before_migrations: bool) -> None:
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        for sql in ROWS.values():
            conn.execute(text(sql))
        if before_migrations:  # a database made by create_all, as the code did before migrations
            conn.execute(text("DROP TABLE alembic_version"))
    before = _snapshot(engine)
    assert migrate.current(engine) == (None if before_migrations else "0001")
    with pytest.raises(migrate.SchemaOutdated, match="run `targeting db upgrade`"):
        migrate.check(engine)

    was, now = migrate.upgrade(engine)
    assert (was, now) == (None if before_migrations else "0001", migrate.head())
    assert _snapshot(engine) == before
    with engine.connect() as conn:  # what the new revision added is there, empty or null for old rows
        assert conn.execute(text("SELECT recorded_by_key FROM waivers")).scalar_one() is None
        assert conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0
        assert conn.execute(text("SELECT created_by_key FROM policies")).scalar_one() is None
        assert conn.execute(text("SELECT count(*) FROM desk_sessions")).scalar_one() == 0
        entry = conn.execute(text("SELECT entry FROM decisions")).scalar_one()
    assert (entry if isinstance(entry, dict) else json.loads(entry))["description"] == "nails ü"


def test_the_service_refuses_to_start_on_an_outdated_schema(
    engine: Engine, empty_database: str, scorer: Scorer
) -> None:
    migrate.upgrade(engine, "0001")
    app = create_app(Settings(database_url=empty_database), scorer=scorer)
    wanted = rf"at schema revision 0001, this code needs {migrate.head()}: run `targeting db upgrade`"
    with pytest.raises(migrate.SchemaOutdated, match=wanted), TestClient(app):
        pass
    migrate.upgrade(engine)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200


DECISION_AT_0002 = text(
    "INSERT INTO decisions (id, entry_id, model_name, model_version, model_alias, decided_at, request_id, entry, "
    "entry_digest, score, raw_score, base_value, expected_revenue, ranking, policy_version, selection, "
    "selection_probability, risk_band, action, contributions, reasons) VALUES (:id, :entry_id, 'shipment-risk', 3, "
    "'champion', '2025-03-14 09:31:00+00:00', 'req-1', :entry, 'd1', 0.31, -0.8, -3.1, 412.5, 'probability', 1, "
    "'model', 1.0, 'high', 'non_intrusive_exam', :contributions, '[]')"
)


def test_upgrade_to_the_desk_fills_the_queue_columns_of_earlier_decisions(engine: Engine) -> None:
    migrate.upgrade(engine, "0002")
    contributions = [
        {"feature": "unit_value_to_reference", "value": 0.1, "input": 0.1, "contribution": 0.8},
        {"feature": "round_value", "value": 1, "input": 1.0, "contribution": 0.3},
        {"feature": "country_of_origin", "value": "VN", "input": 3.0, "contribution": -0.2},
    ]
    with engine.begin() as conn:
        conn.execute(text(ROWS["policies"]))
        for id_, importer, port, contribs in [(7, "12-3456789AB", "2704", contributions), (8, "IMP-2", "1001", [])]:
            entry = {"entry_id": f"E-{id_}", "importer_id": importer, "port_of_entry": port}
            conn.execute(
                DECISION_AT_0002,
                {"id": id_, "entry_id": f"E-{id_}", "entry": json.dumps(entry), "contributions": json.dumps(contribs)},
            )
    migrate.upgrade(engine)
    query = text("SELECT id, importer_id, port_of_entry, likely_violation FROM decisions ORDER BY id")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    assert rows == [(7, "12-3456789AB", "2704", "undervaluation"), (8, "IMP-2", "1001", None)]
    with engine.begin() as conn:  # and back: the columns go, the decisions stay
        command.downgrade(migrate._config(conn), "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == 2
        assert "likely_violation" not in {c["name"] for c in inspect(conn).get_columns("decisions")}


def test_upgrade_to_accounts_fills_the_party_columns_and_the_profiles_score_sums(engine: Engine) -> None:
    migrate.upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text(ROWS["policies"]))
        conn.execute(text(ROWS["profiles"]))
        for id_, entry_id, score, version in [(7, "E-7", 0.25, 3), (8, "E-8", 0.5, 3), (9, "E-8", 0.9, 4)]:
            entry = {"entry_id": entry_id, "importer_id": "12-3456789AB", "manufacturer_id": "CNSHELL1SHA"}
            conn.execute(  # E-8 decided by two model versions
                text(DECISION_AT_0002.text.replace("0.31", str(score)).replace("3, 'champion'", f"{version}, 'x'")),
                {"id": id_, "entry_id": entry_id, "entry": json.dumps(entry), "contributions": "[]"},
            )
        conn.execute(text("UPDATE decisions SET importer_id = '12-3456789AB'"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        makers = conn.execute(text("SELECT DISTINCT manufacturer_id, seller_id FROM decisions")).all()
        profile = conn.execute(text("SELECT entries, scored, score_sum FROM profiles")).one()
        days = conn.execute(text("SELECT entity, key, day, entries, score_sum FROM account_days ORDER BY entity")).all()
        decided = conn.execute(
            text("SELECT day, selection, action, entry_type, port_of_entry, entries FROM decided_days")
        )
        decided = [tuple(str(v) for v in r) for r in decided]
    assert [tuple(m) for m in makers] == [("CNSHELL1SHA", None)]
    assert tuple(profile) == (40, 2, pytest.approx(0.75))  # first decisions only: E-7 at 0.25, E-8 at 0.5
    assert [(e, k, str(d), n, s) for e, k, d, n, s in days] == [
        ("importer_id", "12-3456789AB", "2025-03-14", 2, pytest.approx(0.75)),
        ("manufacturer_id", "CNSHELL1SHA", "2025-03-14", 2, pytest.approx(0.75)),
    ]
    assert decided == [("2025-03-14", "model", "non_intrusive_exam", "", "", "2")]  # measured success's daily counts
