"""API keys and roles over real HTTP: 401 without a valid key, 403 with the wrong role; keys kept as hashes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.main import app as cli
from decisions import store
from decisions.keys import Role
from service.observe import JsonFormatter
from tests.live import LiveServer, make_keys, migrated, service_settings
from tests.service.entries import entry_json

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _operations(live: LiveServer) -> list[tuple[str, str]]:
    schema = httpx.get(f"{live.url}/openapi.json").json()
    return [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops if p not in OPEN]


def test_every_endpoint_but_health_needs_a_valid_key(live: LiveServer) -> None:
    operations = _operations(live)
    assert ("POST", "/v1/score") in operations and ("GET", "/metrics") in operations
    for bad in (None, "Bearer tgt_not-a-key", "Basic dXNlcjpwYXNz"):
        headers = {"Authorization": bad} if bad else {}
        for method, path in operations:
            answer = httpx.request(
                method, live.url + path.replace("{entry_id}", "X").replace("{name}", "X"), headers=headers, json={}
            )
            assert answer.status_code == 401, (method, path, bad, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_each_role_may_do_its_own_work_only(live: LiveServer, history: pd.DataFrame) -> None:
    entry = entry_json(history, 100)
    with live.client(Role.SCORER) as scorer, live.client(Role.REVIEWER) as reviewer:
        assert scorer.post("/v1/score", json={"entries": [entry]}).status_code == 200
        refused = reviewer.post("/v1/score", json={"entries": [entry_json(history, 101)]})
        assert refused.status_code == 403 and "needs a scorer or admin key" in refused.json()["detail"]
        assert scorer.get(f"/v1/decisions/{entry['entry_id']}").status_code == 403
        assert reviewer.get(f"/v1/decisions/{entry['entry_id']}").status_code == 200
        assert reviewer.get("/v1/policy").status_code == 200
        policy = reviewer.get("/v1/policy").json()["policy"]
        assert reviewer.put("/v1/policy", json={"policy": policy}).status_code == 403
        assert reviewer.post("/v1/model/reload").status_code == 403
        assert reviewer.get("/v1/keys").status_code == 403 and scorer.get("/v1/keys").status_code == 403
        assert scorer.get("/v1/model").status_code == 200 and reviewer.get("/metrics").status_code == 200


def test_a_key_is_shown_once_kept_as_a_hash_and_revocable(live: LiveServer, history: pd.DataFrame) -> None:
    with live.client() as admin:
        made = admin.post("/v1/keys", json={"name": "port-2704-desk", "role": "scorer"})
        assert made.status_code == 201
        key = made.json()["key"]
        assert key.startswith("tgt_") and len(key) > 40 and made.json()["prefix"] == key[:8]
        assert admin.post("/v1/keys", json={"name": "port-2704-desk", "role": "admin"}).status_code == 409
        listed = admin.get("/v1/keys").json()
        assert "port-2704-desk" in [k["name"] for k in listed] and key not in json.dumps(listed)
        engine = store.make_engine(live.settings.database_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT * FROM api_keys WHERE name = 'port-2704-desk'")).one()
        engine.dispose()
        assert key not in [str(v) for v in stored]
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as new:
            assert new.post("/v1/score", json={"entries": [entry_json(history, 102)]}).status_code == 200
            assert admin.delete("/v1/keys/port-2704-desk").json()["revoked_at"] is not None
            after = new.post("/v1/score", json={"entries": [entry_json(history, 103)]})
            assert after.status_code == 401 and after.json()["detail"] == "unknown or revoked API key"
        assert admin.delete("/v1/keys/no-such-key").status_code == 404


def test_keys_from_the_command_line(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "cli-reviewer", "--role", "reviewer"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("tgt_")
    listed = runner.invoke(cli, ["keys", "list"]).output
    assert "cli-reviewer" in listed and "active" in listed and key not in listed
    assert runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "boss"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "revoke", "cli-reviewer"]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output
    assert runner.invoke(cli, ["keys", "revoke", "nobody"]).exit_code == 2

    file = tmp_path / "admin.key"
    first = runner.invoke(cli, ["keys", "local", "--file", str(file)]).output
    assert f"kept in {file}" in first and file.read_text().strip() in first
    assert file.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(cli, ["keys", "local", "--file", str(file)]).output
    assert again.split()[-1] == first.split()[-1]  # the same key while it is valid


ROUTES = ("/v1/score", "/v1/decisions/{entry_id}", "/desk/static/{path}", "/docs-static/{path}", "unmatched")


def test_logs_are_json_with_the_request_id_and_never_a_key_or_entry_contents(
    live: LiveServer, history: pd.DataFrame
) -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(("httpx", "httpcore")):  # the test's own client, not the service
                lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        entry = entry_json(history, 104) | {"description": "secret-looking widget description"}
        with live.client(Role.SCORER) as scorer, live.client(Role.REVIEWER) as reviewer:
            answer = scorer.post("/v1/score", json={"entries": [entry]}, headers={"X-Request-ID": "trace-me-1"})
            assert answer.headers["x-request-id"] == "trace-me-1"
            reviewer.get(f"/v1/decisions/{entry['entry_id']}")
            assert reviewer.get("/desk/static/desk.css").status_code == 200
            assert reviewer.get("/docs-static/swagger-ui.css").status_code == 200
            assert reviewer.get("/no/such/path").status_code == 404
        # the service logs a request once its answer is sent, which the client may have read before then
        until = time.monotonic() + 30
        while time.monotonic() < until and not all(any(f'"route": "{r}"' in line for line in lines) for r in ROUTES):
            time.sleep(0.05)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    records = [json.loads(line) for line in lines]
    mine = [r for r in records if r.get("request_id") == "trace-me-1"]
    scored = [r for r in mine if r.get("route") == "/v1/score"]  # one line per request, with what it decided
    assert len(scored) == 1 and scored[0]["status"] == 200 and scored[0]["ms"] >= 0 and scored[0]["entries"] == 1
    assert scored[0]["model_version"] == answer.json()["decisions"][0]["model"]["version"]
    assert any(r.get("route") == "/v1/decisions/{entry_id}" for r in records)  # the template, not the id
    routes = {r.get("route") for r in records if "status" in r}
    assert set(ROUTES) <= routes  # a mount is named by its path
    text_ = "\n".join(lines)
    for secret in (*live.keys.values(), entry["entry_id"], entry["importer_id"], entry["description"]):
        assert secret not in text_


def _key_named(admin: httpx.Client, key: str) -> str:
    """The name of a key, found by its first characters."""
    return str(next(k["name"] for k in admin.get("/v1/keys").json() if k["prefix"] == key[:8]))


def test_every_write_records_the_key_that_made_it_whatever_by_says(live: LiveServer, history: pd.DataFrame) -> None:
    with live.client() as admin, live.client(Role.REVIEWER) as reviewer, live.client(Role.SCORER) as scorer:
        admin_name = _key_named(admin, live.keys[Role.ADMIN])
        reviewer_name = _key_named(admin, live.keys[Role.REVIEWER])
        before = admin.get("/v1/policy").json()
        put = admin.put("/v1/policy", json={"policy": before["policy"], "by": "someone.else", "note": "audit"})
        assert put.status_code == 201, put.text
        now = admin.get("/v1/policy").json()
        assert (now["created_by"], now["created_by_key"]) == ("someone.else", admin_name)  # `by` is a note beside it

        entry = entry_json(history, 105)
        assert scorer.post("/v1/score", json={"entries": [entry]}).status_code == 200
        waived = reviewer.post(
            f"/v1/decisions/{entry['entry_id']}/waivers",
            json={"action": "release", "reason": "documents in order", "by": "someone.else"},
        )
        assert waived.status_code == 201 and waived.json()["recorded_by_key"] == reviewer_name
        outcome = reviewer.post(
            "/v1/outcomes",
            json={
                "entry_id": entry["entry_id"],
                "inspected_at": entry["filed_at"],
                "violation_types": [],
                "selected_by": "officer",
            },
        )
        assert outcome.status_code == 201 and outcome.json()["recorded_by_key"] == reviewer_name

        made = admin.post("/v1/keys", json={"name": "audited-key", "role": "scorer"}).json()
        assert made["created_by"] == admin_name
        assert admin.delete("/v1/keys/audited-key").json()["revoked_by"] == admin_name


def test_the_last_admin_key_cannot_be_revoked(empty_database: str, mlflow_store: str, tmp_path: Path) -> None:
    url = migrated(empty_database)
    made = make_keys(url)  # one key of each role: a single admin
    with LiveServer(service_settings(url, mlflow_store, tmp_path / "cache"), made) as server, server.client() as admin:
        me = _key_named(admin, made[Role.ADMIN])
        refused = admin.delete(f"/v1/keys/{me}")
        assert refused.status_code == 409 and "last admin key" in refused.json()["detail"]
        assert admin.get("/v1/keys").status_code == 200  # still in
        second = admin.post("/v1/keys", json={"name": "second-admin", "role": "admin"}).json()["key"]
        assert admin.delete(f"/v1/keys/{me}").status_code == 200  # with another admin left, it may go
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {second}"}) as other:
            assert other.delete("/v1/keys/second-admin").status_code == 409
