"""Hostile input over real HTTP: schemathesis over every operation of the service's own OpenAPI document,
then attacks by hand (NaN, oversized strings and bodies, injection strings, forged request ids, wrong
content types). Whatever a caller sends, the answer is a documented status with a JSON error body, never a
5xx, and nothing is recorded for a refused request."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from decisions.keys import Role
from service.schemas import ErrorBody
from tests.live import LiveServer, make_keys, migrated, own_database, service_settings
from tests.service.entries import entry_json

pytestmark = pytest.mark.slow  # the `live` and `fuzzed` services need a trained model

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 25
# Fixed and reproducible: derandomized generation, no example database to replay from, no deadline (a score
# takes tens of milliseconds), no shrinking (the first failing case is reported as it was sent).
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)

# Answers the service gives that its OpenAPI document does not describe with ErrorBody (none now: every
# error answer is declared). An entry here would be checked against ErrorBody by the fuzzer itself, and
# test_the_allowance_is_exactly_the_documents_gaps fails as soon as the document and this set part.
UNDOCUMENTED: set[tuple[str, int]] = set()


def _database(kind: str, tmp: Path) -> Iterator[str]:
    for url in own_database(kind, tmp):
        yield migrated(url)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzed(
    request: pytest.FixtureRequest, mlflow_store: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A service on a database of its own: the fuzzer sets policies (PUT /v1/policy), creates and revokes keys
    and scores the documented examples, none of which the shared `live` server's tests may see."""
    for url in _database(request.param, tmp_path_factory.mktemp("fuzzed-db")):
        cache = tmp_path_factory.mktemp("fuzzed-model-cache")
        with LiveServer(service_settings(url, mlflow_store, cache), make_keys(url)) as server:
            yield server


@dataclass
class Tally:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    undocumented: Counter[tuple[str, int]] = field(default_factory=Counter)

    def line(self, name: str, seconds: float) -> str:
        return (
            f"{name}: {len(self.examples)} operations, {sum(self.examples.values())} examples, "
            f"{len(self.failures)} failures, {sum(self.undocumented.values())} known-undocumented answers, "
            f"{seconds:.1f} s"
        )


class FuzzReport:
    """The schemathesis counts, printed in the terminal summary whatever -q or output capture say."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("schemathesis")
            for line in self.lines:
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fuzz_report(pytestconfig: pytest.Config) -> FuzzReport:
    report = FuzzReport()
    pytestconfig.pluginmanager.register(report, "hostile-fuzz-report")  # stays until the summary is written
    return report


def _fuzz_operation(operation: Any, auth: dict[str, str], tally: Tally) -> None:
    label = operation.label
    statuses = tally.statuses.setdefault(label, Counter())

    def check(case: Any) -> None:
        tally.examples[label] += 1
        response = case.call(headers=auth)
        statuses[response.status_code] += 1
        if (label, response.status_code) in UNDOCUMENTED:
            tally.undocumented[(label, response.status_code)] += 1
            ErrorBody.model_validate(response.json())  # what the document should say it is
            case.validate_response(response, checks=[not_a_server_error])
        else:
            case.validate_response(response, checks=CHECKS)

    # The document's own examples first (the score example, a key, a waiver), then generated cases, valid
    # and invalid, within the budget.
    examples = operation.get_strategies_from_examples()
    runs = [st.one_of(examples)] if examples else []
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    runs.append(st.one_of([operation.as_strategy(mode) for mode in modes]))
    for strategy in runs:
        try:
            FUZZ(given(case=strategy)(check))()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup, a BaseExceptionGroup
            tally.failures[label] = str(exc)
            return


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    fuzzed: LiveServer, fuzz_report: FuzzReport
) -> None:
    began = time.perf_counter()
    auth = {"Authorization": f"Bearer {fuzzed.keys[Role.ADMIN]}"}
    # Nothing is excluded. DELETE /v1/keys/{name} gets generated names, so it revokes at most a key the fuzzer
    # made itself (the admin key's name is random; the check below proves it survived). POST /v1/model/reload
    # finds the champion unchanged and answers 200 without swapping. An explicit config: no schemathesis.toml
    # lying around may change the run.
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", config=SchemathesisConfig())
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        _fuzz_operation(operation, auth, tally)
        print(f"{operation.label}: {tally.examples[operation.label]} examples, {dict(tally.statuses[operation.label])}")
    kind = "postgres" if fuzzed.settings.database_url.startswith("postgresql") else "sqlite"
    fuzz_report.lines.append(tally.line(kind, time.perf_counter() - began))
    print(fuzz_report.lines[-1])

    document = httpx.get(f"{fuzzed.url}/openapi.json").json()
    assert set(tally.examples) == {f"{m.upper()} {path}" for path, ms in document["paths"].items() for m in ms}
    assert not tally.failures, "\n\n".join(f"{label}:\n{text}" for label, text in tally.failures.items())
    with fuzzed.client() as admin:
        assert admin.get("/v1/keys").status_code == 200  # the admin key was not revoked along the way
    refused = [label for label, seen in tally.statuses.items() if set(seen) <= {401, 403}]
    assert not refused, f"every answer was 401/403: the key was not honoured on {refused}"
    score = tally.statuses["POST /v1/score"]
    assert score[200] >= 1 and score[422] >= 1  # the example scored; generated entries were refused


STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
LINKED = {  # operations the document's links lead to, each to be reached with a success
    "POST /v1/score",
    "GET /v1/decisions/{entry_id}",
    "POST /v1/decisions/{entry_id}/waivers",
    "POST /v1/keys",
    "DELETE /v1/keys/{name}",
}
STATEFUL_STEPS = 200  # steps over all suites: each suite is up to 10 scenarios of up to 8 linked calls
STATEFUL = settings(
    max_examples=10,
    stateful_step_count=8,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def test_schemathesis_stateful_sequences_find_no_failure(fuzzed: LiveServer, fuzz_report: FuzzReport) -> None:
    """Linked calls (the document's links: score, then read, waive or record the outcome of the decision;
    create a key, then list or revoke it), each answer checked as the stateless run checks it, plus the
    stateful checks (a deleted resource stays gone, a created one is there)."""
    began = time.perf_counter()
    auth = {"Authorization": f"Bearer {fuzzed.keys[Role.ADMIN]}"}
    own = {k["name"] for k in httpx.get(f"{fuzzed.url}/v1/keys", headers=auth).json()}  # the test's own keys
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", config=SchemathesisConfig())
    steps: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            case.headers = {**(case.headers or {}), **auth}
            # a key name taken from GET /v1/keys may be the test's own admin key: it stays, another name goes
            if case.operation.label == "DELETE /v1/keys/{name}" and case.path_parameters.get("name") in own:
                case.path_parameters["name"] = "not-one-of-the-tests-keys"

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            steps[(case.operation.label, response.status_code)] += 1
            try:
                case.validate_response(
                    response,
                    checks=STATEFUL_CHECKS,
                    transport_kwargs=kwargs or None,
                    recorder=getattr(self, "recorder", None),
                )
            except (Exception, BaseExceptionGroup) as exc:  # kept, not raised: Hypothesis would replay the run
                failures.append(f"{case.operation.label} -> {response.status_code}:\n{exc}")

    def followed() -> set[str]:
        return {label for (label, status), n in steps.items() if 200 <= status < 300}

    suites = 0
    # enough steps, and every link followed to success once, within 20 suites (the server's state from the
    # tests before this one changes where the same seeded draws go)
    while (sum(steps.values()) < STATEFUL_STEPS or not followed() >= LINKED) and suites < 20:
        # The server's state changes what the same draws lead to (an entry scored once is a replay the next
        # time), which Hypothesis reports as flaky generation; schemathesis's own runner counts such a suite as
        # done. What the answers showed is in `failures` either way.
        with contextlib.suppress(Flaky):
            seed(suites)(Machine).run(settings=STATEFUL)
        suites += 1
    kind = "postgres" if fuzzed.settings.database_url.startswith("postgresql") else "sqlite"
    fuzz_report.lines.append(
        f"{kind} stateful: {suites} suites, {sum(steps.values())} linked calls, "
        f"{len(failures)} failures, {time.perf_counter() - began:.1f} s"
    )
    print(fuzz_report.lines[-1], dict(steps))

    assert not failures, "\n\n".join(failures[:5])
    assert sum(steps.values()) >= STATEFUL_STEPS
    assert followed() >= LINKED, steps  # the links were followed to success
    with fuzzed.client() as admin:
        assert admin.get("/v1/keys").status_code == 200  # the test's admin key survived


def _error_gaps(document: dict[str, Any]) -> set[tuple[str, int]]:
    """(operation, status) the service can answer without the document describing it as ErrorBody: 400 (not
    JSON), 413 (too large) and 422 wherever a body is taken, 422 wherever a parameter is."""
    gaps = set()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            possible = ({400, 413, 422} if "requestBody" in operation else set()) | (
                {422} if operation.get("parameters") else set()
            )
            for status in possible:
                content = operation["responses"].get(str(status), {}).get("content", {})
                if content.get("application/json", {}).get("schema") != {"$ref": "#/components/schemas/ErrorBody"}:
                    gaps.add((f"{method.upper()} {path}", status))
    return gaps


def test_the_allowance_is_exactly_the_documents_gaps(client: httpx.Client) -> None:
    gaps = _error_gaps(client.get("/openapi.json").json())
    assert not gaps - UNDOCUMENTED, f"newly undocumented error answers: {sorted(gaps - UNDOCUMENTED)}"
    assert not UNDOCUMENTED - gaps, f"now documented, remove from UNDOCUMENTED: {sorted(UNDOCUMENTED - gaps)}"


def _fields(answer: httpx.Response) -> list[str]:
    detail = ErrorBody.model_validate(answer.json()).detail
    return [item.field for item in detail] if isinstance(detail, list) else []


def _recorded(client: httpx.Client, entry_id: str) -> bool:
    found = client.get(f"/v1/decisions/{entry_id}")
    assert found.status_code in (200, 404), found.text
    return found.status_code == 200


def _raw(body: dict[str, Any], token: str, literal: str) -> bytes:
    """The JSON text of `body` with the string `token` replaced by a bare literal (NaN, Infinity...)."""
    text = json.dumps(body).replace(f'"{token}"', literal)
    assert literal in text
    return text.encode()


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("name", ["declared_value_usd", "quantity", "gross_weight_kg"])
def test_nan_and_infinities_are_refused_and_nothing_is_recorded(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame, name: str, literal: str
) -> None:
    entry = {**entry_json(history, 4000), name: "@@"}
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", content=_raw({"entries": [entry]}, "@@", literal), headers=JSON)
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == [f"entries[0].{name}"]
    assert not _recorded(client, entry["entry_id"])


@pytest.mark.parametrize(
    ("name", "size"), [("description", 501), ("entry_id", 65), ("marketplace", 65), ("importer_id", 65), ("carrier", 9)]
)
def test_strings_over_their_length_are_refused(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame, name: str, size: int
) -> None:
    entry = entry_json(history, 4100)
    entry[name] = ("T" + uuid.uuid4().hex * 4)[:size].ljust(size, "X")
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": [entry]})
        assert answer.status_code == 422, answer.text
        assert _fields(answer) == [f"entries[0].{name}"]
        assert not _recorded(client, entry["entry_id"])
        entry[name] = entry[name][:-1]  # one character less is in bounds
        assert scorer.post("/v1/score", json={"entries": [entry]}).status_code == 200


def test_a_body_over_the_size_limit_is_413_and_one_at_the_limit_is_scored(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    limit = live.settings.max_body_bytes
    entries = [entry_json(history, 4200), entry_json(history, 4201)]
    with live.client(Role.SCORER) as scorer:
        for entry, size in zip(entries, (limit + 1, limit)):
            body = json.dumps({"entries": [entry]}).encode()
            padded = body + b" " * (size - len(body))  # still valid JSON: only the size is wrong
            answer = scorer.post("/v1/score", content=padded, headers=JSON)
            if size > limit:
                assert answer.status_code == 413, answer.text
                assert str(limit) in ErrorBody.model_validate(answer.json()).detail
                assert not _recorded(client, entry["entry_id"])
            else:
                assert answer.status_code == 200, answer.text


def test_a_chunked_body_over_the_size_limit_is_413(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 4300)
    body = json.dumps({"entries": [entry]}).encode()
    padded = body + b" " * (live.settings.max_body_bytes + 1 - len(body))

    def chunks() -> Iterator[bytes]:  # an iterator: httpx sends Transfer-Encoding: chunked, no Content-Length
        step = 1 << 20
        yield from (padded[i : i + step] for i in range(0, len(padded), step))

    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", content=chunks(), headers=JSON)
    assert answer.status_code == 413, answer.text
    assert not _recorded(client, entry["entry_id"])


def test_a_batch_over_the_limit_is_413_and_nothing_is_recorded(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    one = entry_json(history, 5000)
    entries = [{**one, "entry_id": f"{one['entry_id']}-{i}"} for i in range(live.settings.max_batch + 1)]
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": entries})
    assert answer.status_code == 413, answer.text[:500]
    assert "1000" in ErrorBody.model_validate(answer.json()).detail
    assert not _recorded(client, entries[0]["entry_id"]) and not _recorded(client, entries[-1]["entry_id"])


HOSTILE = (
    "'; DROP TABLE decisions; -- <script>alert(1)</script> {{7*7}} ${jndi:ldap://x} %s%n \\\" "
    "中文 Ünïcödé 🚢 \u202e reversed \u200b zero-width"
)


def test_injection_and_unicode_are_stored_verbatim_and_never_executed(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    entry = {**entry_json(history, 4400), "description": HOSTILE, "marketplace": "<img src=x onerror=alert(1)>"}
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": [entry]})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")  # never rendered as a page
        record = client.get(f"/v1/decisions/{entry['entry_id']}")
        assert record.status_code == 200
        assert record.json()["entry"]["description"] == HOSTILE
        assert record.json()["entry"]["marketplace"] == entry["marketplace"]
        # the path is a value, not SQL: a 404 naming it, and the table is still there for the next entry
        injected = client.get("/v1/decisions/x'; DROP TABLE decisions; --")
        assert injected.status_code == 404 and "DROP TABLE" in injected.json()["detail"]
        again = entry_json(history, 4401)
        assert scorer.post("/v1/score", json={"entries": [again]}).status_code == 200
        assert _recorded(client, entry["entry_id"]) and _recorded(client, again["entry_id"])


def test_a_nul_character_is_stored_or_refused_never_a_server_error(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    entry = {**entry_json(history, 4500), "description": "steel nails \x00 in bulk"}
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": [entry]})
    assert answer.status_code == 422, answer.text  # refused on every database: PostgreSQL cannot hold it
    assert _fields(answer) == ["entries[0].description"] and not _recorded(client, entry["entry_id"])


@pytest.mark.parametrize("given_id", ["<script>alert(1)</script>", "x" * 65, "two words", "../../etc/passwd", ""])
def test_a_forged_request_id_is_replaced_by_a_generated_one(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame, given_id: str
) -> None:
    entry = entry_json(history, 4600)
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", json={"entries": [entry]}, headers={"X-Request-ID": given_id})
    assert answer.status_code == 200, answer.text
    generated = answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and generated != given_id
    assert answer.json()["request_id"] == generated
    assert client.get(f"/v1/decisions/{entry['entry_id']}").json()["request_id"] == generated


def test_a_well_formed_request_id_is_kept(live: LiveServer, history: pd.DataFrame) -> None:
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post(
            "/v1/score", json={"entries": [entry_json(history, 4601)]}, headers={"X-Request-ID": "desk-2704.req_42"}
        )
    assert answer.headers["X-Request-ID"] == answer.json()["request_id"] == "desk-2704.req_42"


NOT_JSON = [
    ("text/plain", None, 422),  # a valid JSON body under another media type is not read as JSON
    (None, None, 422),  # no content type at all
    ("application/x-www-form-urlencoded", b"entries=ABC1234567-8", 422),
    ("application/xml", b"<entries><entry/></entries>", 422),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=entries\r\n\r\n1\r\n--x--", 422),
    ("application/json", b"entries: [ABC1234567-8]", 400),
    ("application/json", b"", 422),
    ("application/json", b'{"entries": "\xff\xfe"}', 400),  # not UTF-8
    ("application/json", b"[" * 100_000 + b"]" * 100_000, 400),  # nested past the parser's recursion limit
    ("application/json", b'{"entries": [' + b"9" * 5000 + b"]}", 400),  # an integer past Python's digit limit
]


@pytest.mark.parametrize(("media_type", "body", "status"), NOT_JSON)
def test_a_body_that_is_not_json_is_400_or_422_with_a_json_error(
    live: LiveServer,
    client: httpx.Client,
    history: pd.DataFrame,
    media_type: str | None,
    body: bytes | None,
    status: int,
) -> None:
    entry = entry_json(history, 4700)
    content = body if body is not None else json.dumps({"entries": [entry]}).encode()
    headers = {"content-type": media_type} if media_type else {}
    with live.client(Role.SCORER) as scorer:
        answer = scorer.post("/v1/score", content=content, headers=headers)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/json")
    ErrorBody.model_validate(answer.json())
    assert not _recorded(client, entry["entry_id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/decisions/ABC1234567-8/waivers"),
        ("POST", "/v1/outcomes"),
        ("POST", "/v1/keys"),
        ("PUT", "/v1/policy"),
    ],
)
def test_every_body_route_answers_malformed_json_with_400(client: httpx.Client, method: str, path: str) -> None:
    before = client.get("/v1/policy").json()["version"]
    answer = client.request(method, path, content=b'{"by": "officer", ', headers=JSON)
    assert answer.status_code == 400, answer.text
    assert "JSON" in ErrorBody.model_validate(answer.json()).detail
    assert client.get("/v1/policy").json()["version"] == before
