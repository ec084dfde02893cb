"""The reviewers' desk over real HTTP, on SQLite and PostgreSQL: signing in, CSRF, the queue's filters and
pages, the entry page's forms (through the API's own code paths), the model page and drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from decisions import keys, store
from decisions.keys import Role
from decisions.store import desk as desk_store
from decisions.store import sessions
from service.web.auth import SESSION_COOKIE
from tests.live import CSRF, LiveServer, cookie_of, sign_in
from tests.service.entries import entry_json


@pytest.fixture
def desk(live: LiveServer) -> Iterator[httpx.Client]:
    """A browser-like client signed in with a reviewer key."""
    made = sign_in(live, live.keys[Role.REVIEWER])
    assert made.status_code == 303, made.text
    with httpx.Client(
        base_url=live.url, headers={"cookie": f"{SESSION_COOKIE}={cookie_of(made, SESSION_COOKIE)}"}, timeout=60
    ) as client:
        yield client


def _token(page: httpx.Response) -> str:
    return CSRF.search(page.text).group(1)  # type: ignore[union-attr]


def _scored(live: LiveServer, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": entries})
    assert answer.status_code == 200, answer.text
    decisions: list[dict[str, Any]] = answer.json()["decisions"]
    return decisions


def test_pages_need_a_reviewer_session_and_a_scorer_key_cannot_sign_in(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as anon:
        for path in ("/desk/queue", "/desk/model", "/desk/entries/X1"):
            answer = anon.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/desk/sign-in?next=/desk/")
        assert anon.get("/desk/queue", headers={"cookie": f"{SESSION_COOKIE}=forged.value.sig"}).status_code == 303
    refused = sign_in(live, live.keys[Role.SCORER])
    assert refused.status_code == 401 and "a scorer key cannot sign in to the desk" in refused.text
    wrong = sign_in(live, "tgt_not-a-real-key")
    assert wrong.status_code == 401 and "unknown or revoked API key" in unescape(wrong.text)
    made = sign_in(live, live.keys[Role.REVIEWER])
    assert made.status_code == 303 and made.headers["location"] == "/desk/queue"
    cookie = next(h for h in made.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/desk"):
        assert attribute.lower() in cookie.lower()
    assert live.keys[Role.REVIEWER] not in cookie  # the key itself never travels back


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(live: LiveServer) -> None:
    made = sign_in(live, live.keys[Role.REVIEWER])
    token = cookie_of(made, SESSION_COOKIE)
    # the cookie is an opaque token: neither the key, nor its hash, nor its name
    assert keys.hash_key(live.keys[Role.REVIEWER]) not in token and live.keys[Role.REVIEWER] not in token
    copy = {"cookie": f"{SESSION_COOKIE}={token}"}
    with (
        httpx.Client(base_url=live.url, headers=copy) as browser,
        httpx.Client(base_url=live.url, headers=copy) as thief,
    ):
        page = browser.get("/desk/queue")
        assert page.status_code == 200 and thief.get("/desk/queue").status_code == 200
        assert browser.post("/desk/sign-out", data={"csrf": _token(page)}).status_code == 303
        assert thief.get("/desk/queue").status_code == 303  # a copy taken before signing out opens nothing now
        assert browser.get("/desk/queue").status_code == 303


def test_an_expired_session_opens_nothing(live: LiveServer) -> None:
    token = cookie_of(sign_in(live, live.keys[Role.REVIEWER]), SESSION_COOKIE)
    with httpx.Client(base_url=live.url, headers={"cookie": f"{SESSION_COOKIE}={token}"}) as browser:
        assert browser.get("/desk/queue").status_code == 200
        engine = store.make_engine(live.settings.database_url)
        with Session(engine) as session:  # its hours are up
            session.execute(
                update(sessions.DeskSession)
                .where(sessions.DeskSession.token_hash == sessions.token_hash(token))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            session.commit()
        engine.dispose()
        assert browser.get("/desk/queue").status_code == 303


def test_sign_in_needs_its_form_token_and_a_revoked_key_ends_the_session(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as anon:
        answer = anon.post("/desk/sign-in", data={"key": live.keys[Role.REVIEWER], "csrf": "made-up"})
        assert answer.status_code == 403 and "sign-in form has expired" in answer.text
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        key = keys.create(session, f"desk-revoked-{datetime.now():%H%M%S%f}", Role.REVIEWER, "tests")
        session.commit()
    made = sign_in(live, key)
    cookie = {"cookie": f"{SESSION_COOKIE}={cookie_of(made, SESSION_COOKIE)}"}
    with httpx.Client(base_url=live.url, headers=cookie) as browser:
        assert browser.get("/desk/queue").status_code == 200
        with Session(engine) as session:
            keys.revoke(session, keys.caller_of(session, keys.hash_key(key)).name, "tests")  # type: ignore[union-attr]
            session.commit()
        assert browser.get("/desk/queue").status_code == 303  # key_cache_seconds is 0 in tests
    engine.dispose()


def test_forms_without_the_session_token_or_from_another_site_are_refused(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 410)
    _scored(live, [entry])
    page = desk.get(f"/desk/entries/{entry['entry_id']}")
    waiver = {"action": "release", "reason": "documents verified", "by": "officer.a"}
    url = f"/desk/entries/{entry['entry_id']}/waiver"
    assert desk.post(url, data=waiver).status_code == 403
    assert desk.post(url, data=waiver | {"csrf": "x" * 43}).status_code == 403
    other = desk.post(url, data=waiver | {"csrf": _token(page)}, headers={"origin": "https://evil.example"})
    assert other.status_code == 403 and "another site" in other.text
    with live.client(Role.REVIEWER) as api:
        assert api.get(f"/v1/decisions/{entry['entry_id']}").json()["waivers"] == []
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"


def _queue_ids(desk: httpx.Client, query: dict[str, str]) -> tuple[list[str], httpx.Response]:
    page = desk.get("/desk/queue", params=query)
    assert page.status_code == 200, page.text
    return re.findall(r'class="entry-link id" href="/desk/entries/([^"?]+)\?', page.text), page


def test_the_queue_filters_sorts_and_pages_like_the_database(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame
) -> None:
    importer = f"IMP-DESK-{datetime.now():%H%M%S%f}"
    entries = [entry_json(history, i) | {"importer_id": importer} for i in range(500, 620)]
    decided = _scored(live, entries)
    # highest score first; among equal scores, the later decision (higher id) first
    mine = [d for _, d in sorted(enumerate(decided), key=lambda p: (-p[1]["score"], -p[0]))]
    # every page of the importer's decisions, walked down and back up, in score order, each once
    seen, query = [], {"importer": importer}
    page_size = live.settings.queue_page_size
    while True:
        ids, page = _queue_ids(desk, query)
        seen += ids
        older = re.search(r'href="([^"]+)" rel="next"', page.text)
        if older is None:
            break
        query = dict(httpx.URL(unescape(older.group(1))).params)
    assert seen == [d["entry_id"] for d in mine]
    assert len(seen) == 120 and page_size < 120
    newer = re.search(r'href="([^"]+)" rel="prev"', page.text)
    back, _ = _queue_ids(desk, dict(httpx.URL(unescape(newer.group(1))).params))  # type: ignore[union-attr]
    tail = len(seen) % page_size or page_size
    assert back == seen[-tail - page_size : -tail]

    some = mine[0]
    ports = {e["entry_id"]: e["port_of_entry"] for e in entries}
    values = {
        "action": some["action"],
        "band": some["risk_band"],
        "port": entries[0]["port_of_entry"],
        "violation": some["likely_violation"] or "undervaluation",
    }
    for field, value in values.items():
        ids, _ = _queue_ids(desk, {"importer": importer, field: value})
        wanted = [
            d["entry_id"]
            for d in mine
            if (
                ports[d["entry_id"]] == value
                if field == "port"
                else d[{"action": "action", "band": "risk_band", "violation": "likely_violation"}[field]] == value
            )
        ]
        assert ids == wanted[:page_size], field
    today = datetime.fromisoformat(decided[0]["decided_at"]).date()
    ids, _ = _queue_ids(desk, {"importer": importer, "since": str(today), "until": str(today)})
    assert ids == [d["entry_id"] for d in mine][:page_size]
    ids, _ = _queue_ids(desk, {"importer": importer, "until": str(today - timedelta(days=1))})
    assert ids == []


def test_a_bad_filter_is_named_not_a_crash(desk: httpx.Client) -> None:
    for query, message in [
        ({"port": "27a4"}, "a port code is 4 digits"),
        ({"since": "yesterday"}, "YYYY-MM-DD"),
        ({"action": "arrest"}, "not an action"),
        ({"after": "zzz"}, "not a page of this queue"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "before the start date"),
    ]:
        page = desk.get("/desk/queue", params=query)
        assert page.status_code == 422 and message in page.text, query


def test_the_entry_page_shows_the_decision_its_reasons_and_a_chart_that_adds_up(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 420)
    decision = _scored(live, [entry])[0]
    page = desk.get(f"/desk/entries/{entry['entry_id']}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert entry["importer_id"] in text and entry["description"] in text
    for reason in decision["reasons"]:
        assert reason["sentence"] in text
    bars = re.findall(r'data-kind="(\w+)" data-value="([-0-9.e]+)"', page.text)
    kinds = [k for k, _ in bars]
    assert kinds[0] == "base" and kinds[-1] == "total" and kinds.count("rest") == 1
    base, total = float(bars[0][1]), float(bars[-1][1])
    steps = sum(float(v) for k, v in bars if k in ("contribution", "rest"))
    assert base == pytest.approx(decision["base_value"], abs=1e-8)
    assert base + steps == pytest.approx(decision["raw_score"], abs=1e-6) == total
    listed = re.findall(r'<tr class="listed" data-value="([-0-9.e]+)"', page.text)
    assert len(listed) == kinds.count("contribution") + 1
    assert "importer" in text and "Entries before" in text
    assert re.search(
        rf'id="model-run" href="http://127.0.0.1:5000/#/experiments/\d+/runs/\w+">version '
        rf"{decision['model']['version']}<",
        page.text,
    )
    missing = desk.get("/desk/entries/NOT-DECIDED-1")
    assert missing.status_code == 404 and "no decision on entry NOT-DECIDED-1" in missing.text


def test_the_outcome_form_records_as_the_api_does(live: LiveServer, desk: httpx.Client, history: pd.DataFrame) -> None:
    entry = entry_json(history, 430)
    _scored(live, [entry])
    url = f"/desk/entries/{entry['entry_id']}"
    page = desk.get(url)
    filed = datetime.fromisoformat(entry["filed_at"])
    form = {
        "csrf": _token(page),
        "inspected_at": (filed + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "violation_types": ["undervaluation", "counterfeit"],
        "revenue_recovered": "1250.5",
        "selected_by": "model",
        "note": "invoice 12 % of market",
    }
    early = desk.post(
        f"{url}/outcome", data=form | {"inspected_at": (filed - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    )
    assert early.status_code == 422 and "before the entry was filed" in unescape(early.text)
    bad = desk.post(f"{url}/outcome", data=form | {"revenue_recovered": "-4"})
    assert bad.status_code == 422 and 'aria-invalid="true" aria-describedby="e-revenue"' in bad.text
    made = desk.post(f"{url}/outcome", data=form)
    assert made.status_code == 303 and made.headers["location"] == f"{url}?saved=outcome"
    shown = desk.get(made.headers["location"])
    assert "Outcome recorded." in shown.text and 'id="outcome-recorded"' in shown.text
    assert "violation: counterfeit, undervaluation" in shown.text and "$1,250.50" in shown.text
    with live.client(Role.REVIEWER) as api:
        record = api.get(f"/v1/decisions/{entry['entry_id']}").json()["outcome"]
        assert record["violation_types"] == ["counterfeit", "undervaluation"]
        assert record["recorded_by_key"].startswith("test-reviewer")
        # the same body through the API is the same outcome (same digest): a repeat, not a conflict
        body = {k: form[k] for k in ("violation_types", "selected_by", "note")} | {
            "entry_id": entry["entry_id"],
            "revenue_recovered": 1250.5,
            "inspected_at": form["inspected_at"] + ":00Z",
        }
        again = api.post("/v1/outcomes", json=body)
        assert again.status_code == 200 and again.json()["replayed"] is True


def test_the_waiver_form_needs_a_reason_and_keeps_the_decision(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 440)
    decision = _scored(live, [entry])[0]
    url = f"/desk/entries/{entry['entry_id']}"
    token = _token(desk.get(url))
    empty = desk.post(f"{url}/waiver", data={"csrf": token, "action": "release", "reason": " ", "by": "officer.b"})
    assert empty.status_code == 422 and 'aria-describedby="e-reason"' in empty.text
    made = desk.post(
        f"{url}/waiver",
        data={
            "csrf": token,
            "action": "physical_exam",
            "by": "officer.b",
            "reason": "tip-off from the port: <b>same container</b>",
        },
    )
    assert made.status_code == 303
    shown = desk.get(made.headers["location"])
    assert "tip-off from the port: &lt;b&gt;same container&lt;/b&gt;" in shown.text  # escaped, never markup
    assert re.search(r'id="action">' + decision["action"].replace("_", " "), shown.text)
    assert re.search(r'id="effective">physical exam', shown.text)
    with live.client(Role.REVIEWER) as api:
        record = api.get(f"/v1/decisions/{entry['entry_id']}").json()
    assert record["action"] == decision["action"] and record["effective_action"] == "physical_exam"
    assert record["waivers"][0]["waived_by"] == "officer.b"


def test_the_model_page_drift_endpoint_and_metrics(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame, scorer: Any
) -> None:
    _scored(live, [entry_json(history, i) for i in range(700, 760)])
    with live.client(Role.REVIEWER) as api:
        drift = api.get("/v1/monitoring/drift", params={"days": 30})
        assert drift.status_code == 200, drift.text
        body = drift.json()
        assert {c["name"] for c in body["columns"]} == {*scorer.pipeline.feature_names, "score"}
        assert body["decisions"] >= 60 and body["reference"].startswith("test window from")
        assert body["flagged"] == [c["name"] for c in body["columns"] if c["psi"] > 0.2]
        with live.client(Role.SCORER) as other:
            assert other.get("/v1/monitoring/drift").status_code == 403
        own = api.get("/v1/monitoring/drift", params={"refresh": True})  # the service's own window feeds /metrics
        assert own.status_code == 200 and own.json()["days"] == live.settings.drift_days
        metrics = api.get("/metrics").text
        assert re.search(r'targeting_drift_psi\{column="score"\} [0-9.e+-]+', metrics)
        # precision expected at the top k % before outcomes: the mean score of the highest-scored decisions
        expected = own.json()["expected_precision"]
        assert list(expected) == ["1pct", "2pct", "5pct", "10pct"]
        assert 1 >= expected["1pct"] >= expected["5pct"] >= expected["10pct"] > 0
        shown = re.search(r'targeting_expected_precision\{k="5pct"\} ([0-9.e+-]+)', metrics)
        assert shown is not None and float(shown.group(1)) == pytest.approx(expected["5pct"])
    page = desk.get("/desk/model")
    assert page.status_code == 200
    assert 'id="champion"' in page.text and "Champion: version 1" in page.text
    assert "precision_at_5pct" in page.text and "/desk/models/1/report" in page.text
    assert "@champion" in page.text and 'aria-label="Drift by column"' in page.text
    assert re.search(r'id="expected-precision".*5 % [0-9.]+ %', page.text, re.S)
    report = desk.get("/desk/models/1/report")
    assert report.status_code == 200 and "Targeting report" in report.text and "data:image/png;base64" in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    assert desk.get("/desk/models/99/report").status_code == 404


def test_new_decisions_carry_their_filter_columns(live: LiveServer, history: pd.DataFrame) -> None:
    entry = entry_json(history, 450)
    decision = _scored(live, [entry])[0]
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        row = session.scalars(select(store.Decision).where(store.Decision.entry_id == entry["entry_id"])).one()
    engine.dispose()
    assert (row.importer_id, row.port_of_entry) == (entry["importer_id"], entry["port_of_entry"])
    assert row.likely_violation == decision["likely_violation"]


def test_a_form_posted_after_the_session_ended_leads_back_to_its_page(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as anon:
        answer = anon.post("/desk/entries/E-1/waiver", data={"action": "release", "reason": "too late", "by": "o"})
    assert answer.status_code == 303 and answer.headers["location"] == "/desk/sign-in?next=/desk/entries/E-1"


def test_an_entry_id_with_a_slash_opens_and_takes_forms(
    live: LiveServer, desk: httpx.Client, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 460) | {"entry_id": f"ABC/{datetime.now():%H%M%S%f}-1"}
    _scored(live, [entry])
    page = desk.get(f"/desk/entries/{entry['entry_id']}")
    assert page.status_code == 200 and entry["entry_id"] in page.text
    made = desk.post(
        f"/desk/entries/{entry['entry_id']}/waiver",
        data={"csrf": _token(page), "action": "release", "reason": "paper checked", "by": "officer.c"},
    )
    assert made.status_code == 303
    with live.client(Role.REVIEWER) as api:
        assert api.get(f"/v1/decisions/{entry['entry_id']}").json()["waivers"][0]["waived_by"] == "officer.c"
    missing = desk.post(
        "/desk/entries/NOPE-1/waiver",
        data={"csrf": _token(page), "action": "release", "reason": "paper checked", "by": "officer.c"},
    )
    assert missing.status_code == 404 and "no decision on entry NOPE-1" in missing.text


def test_a_date_range_reads_the_same_by_date_or_by_score(live: LiveServer, history: pd.DataFrame) -> None:
    """The two ways the store reads a date range on SQLite (store/desk.py SORT_AT_MOST) give the same pages."""
    _scored(live, [entry_json(history, i) for i in range(470, 530)])
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    where = desk_store.QueueFilter(since=today - timedelta(days=1), until=today + timedelta(days=1))
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        pages = []
        for sort_at_most in (10**9, 0):  # read by date and sorted, or walking the score index
            page = desk_store.queue(session, where, 25, sort_at_most=sort_at_most)
            later = desk_store.queue(session, where, 25, after=page.older, sort_at_most=sort_at_most)
            pages.append([r.id for r in page.rows + later.rows])
        none = desk_store.queue(session, desk_store.QueueFilter(since=today + timedelta(days=2)), 25, sort_at_most=0)
    engine.dispose()
    assert pages[0] == pages[1] and len(pages[0]) == 50
    assert none.rows == []


def test_a_generated_key_name_is_shown_as_a_name_and_a_date() -> None:
    from service.web.render import key_label

    assert key_label("local-admin-20261205T135107867849") == "local-admin (key of 2026-12-05)"
    assert key_label("officer-doe") == "officer-doe"
