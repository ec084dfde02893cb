"""A Python client of the shipment-targeting API: typed calls for scoring, decisions, outcomes, waivers and the
policy, retried with backoff where a retry is safe.

    from shipment_targeting_client import TargetingClient

    with TargetingClient("http://127.0.0.1:8000", key="tgt_...") as api:
        (decision,) = api.score_entries([entry])
        print(decision["score"], decision["action"], decision["reasons"][0]["sentence"])

Retries: a 503 (the service at its bound on requests in flight, its database unreachable, no model loaded) means
the request was not carried out, so every call is retried after the answer's `Retry-After` (else an exponential
backoff with jitter), up to `retries` times. Scoring is also retried when the connection fails after the request
was sent: an entry already decided is answered from its record (`replayed`), never decided twice, so a retry is
safe whatever happened. An outcome recorded twice is a replay too. A waiver is not retried once sent: each one
is a new record. Other errors raise `ApiError` with the status and the service's `detail`.

Only httpx is needed (`pip install ./client`). The wire format is the service's OpenAPI document
(`openapi.json`); the typed answers below follow it, and a test holds them to it. (No `from __future__ import
annotations` here: TypedDict reads `NotRequired` only from evaluated annotations.)
"""

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, Self, TypedDict
from urllib.parse import quote

import httpx

__all__ = [
    "ApiError",
    "Decision",
    "DecisionRecord",
    "ModelRef",
    "Outcome",
    "PolicyVersion",
    "Reason",
    "TargetingClient",
    "Waiver",
]


class ModelRef(TypedDict):
    name: str
    version: int
    alias: str


class Reason(TypedDict):
    feature: str
    value: float | str | None
    contribution: float
    effect: str  # raises risk, lowers risk, or rule
    sentence: str


class Decision(TypedDict):
    """One entry's decision as `score_entries` answers it."""

    entry_id: str
    score: float  # calibrated probability of a violation
    risk_band: str
    action: str  # release, document_review, non_intrusive_exam, physical_exam
    raw_score: float
    base_value: float
    expected_revenue: float | None
    ranking: str
    policy_version: int
    selection: str | None
    selection_probability: float
    likely_violation: NotRequired[str | None]
    reasons: list[Reason]
    model: ModelRef
    decided_at: str
    request_id: str
    replayed: NotRequired[bool]


class DecisionRecord(Decision):
    """A decision as the record keeps it: with the entry as sent, every contribution, waivers and the outcome."""

    entry: dict[str, Any]
    contributions: list[dict[str, Any]]
    earlier: NotRequired[list[dict[str, Any]]]
    waivers: NotRequired[list[dict[str, Any]]]
    effective_action: str
    outcome: NotRequired[dict[str, Any] | None]


class Outcome(TypedDict):
    entry_id: str
    inspected_at: str
    violation: bool
    violation_types: list[str]
    revenue_recovered: float
    selected_by: str
    note: str
    recorded_at: str
    recorded_by_key: str | None
    replayed: NotRequired[bool]


class Waiver(TypedDict):
    action: str
    reason: str
    waived_by: str
    waived_at: str
    recorded_by_key: NotRequired[str | None]
    model_version: int


class PolicyVersion(TypedDict):
    version: int
    created_at: str
    created_by: str | None
    created_by_key: str | None
    note: str | None
    policy: dict[str, Any]


class ApiError(Exception):
    """The service refused a request: its HTTP status and what it said (`detail`)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class TargetingClient:
    """The API at `base_url` with one key (`Authorization: Bearer`); a context manager closing its connections."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries, self.backoff = retries, backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}", "User-Agent": "shipment-targeting-client"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- the calls -------------------------------------------------------------------------------------------

    def score_entries(self, entries: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Decisions for one to 1,000 entries, in their order; an entry decided before is answered from its record."""
        body = self._call("POST", "/v1/score", json={"entries": list(entries)}, replayable=True)
        decisions: list[Decision] = body["decisions"]
        return decisions

    def read_decision(self, entry_id: str) -> DecisionRecord:
        """The recorded decision of an entry (by the model version that decided it last)."""
        record: DecisionRecord = self._call("GET", f"/v1/decisions/{_segment(entry_id)}", replayable=True)
        return record

    def record_outcome(
        self,
        entry_id: str,
        inspected_at: str,
        violation_types: Sequence[str],
        selected_by: str,
        revenue_recovered: float = 0.0,
        note: str = "",
    ) -> Outcome:
        """What the inspection of an entry found (no violation types: compliant). Recording the same outcome again
        is a replay; a different one for the same entry is refused (409)."""
        outcome: Outcome = self._call(
            "POST",
            "/v1/outcomes",
            json={
                "entry_id": entry_id,
                "inspected_at": inspected_at,
                "violation_types": list(violation_types),
                "selected_by": selected_by,
                "revenue_recovered": revenue_recovered,
                "note": note,
            },
            replayable=True,
        )
        return outcome

    def waive_decision(self, entry_id: str, action: str, reason: str, by: str) -> Waiver:
        """Override a decision's action, with the officer's reason (the decision itself is never changed)."""
        waiver: Waiver = self._call(
            "POST",
            f"/v1/decisions/{_segment(entry_id)}/waivers",
            json={"action": action, "reason": reason, "by": by},
            replayable=False,
        )
        return waiver

    def read_policy(self) -> PolicyVersion:
        """The targeting policy in force, with its version."""
        policy: PolicyVersion = self._call("GET", "/v1/policy", replayable=True)
        return policy

    def set_policy(self, policy: Mapping[str, Any], note: str = "", by: str | None = None) -> PolicyVersion:
        """Put a new policy version in force (admin key); the answer is the version written."""
        written: PolicyVersion = self._call(
            "PUT", "/v1/policy", json={"policy": dict(policy), "note": note, "by": by}, replayable=False
        )
        return written

    # --- transport ---------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, replayable: bool, json: Any = None) -> Any:
        """The answer's JSON body; retries on 503 always, and on a failed connection when the call is replayable."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                answer = self._http.request(method, path, json=json)
            except httpx.ConnectError:  # nothing was sent: always safe to retry
                if last:
                    raise
                self._pause(attempt, None)
                continue
            except httpx.TransportError:  # sent, answer lost: only a replayable call may go again
                if last or not replayable:
                    raise
                self._pause(attempt, None)
                continue
            if answer.status_code == 503 and not last:
                self._pause(attempt, answer.headers.get("Retry-After"))
                continue
            if answer.is_error:
                raise ApiError(answer.status_code, _detail(answer))
            return answer.json()
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        try:
            wait = float(retry_after) if retry_after is not None else None
        except ValueError:  # an HTTP date: fall back to the backoff
            wait = None
        if wait is None:
            wait = self.backoff * 2**attempt
        time.sleep(wait * random.uniform(1.0, 1.25))  # jitter: clients told the same wait do not return together


def _segment(entry_id: str) -> str:
    """An entry id in a path, every reserved character escaped."""
    return quote(entry_id, safe="")


def _detail(answer: httpx.Response) -> Any:
    try:
        return answer.json().get("detail", answer.text)
    except ValueError:
        return answer.text
