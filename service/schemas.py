"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel

from decisions.actions import Action
from decisions.inputs import OutcomeIn, SelectedBy, TextInput, WaiverIn  # noqa: F401  (part of the API)
from decisions.keys import Role
from decisions.policy import Policy
from features.codes import Violation
from features.schema import EXAMPLE_ENTRIES, Entry, text_schema


class ScoreRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"entries": EXAMPLE_ENTRIES}]})

    entries: list[Entry] = Field(min_length=1, max_length=1000, description="One to 1,000 entries.")


class ModelInfoRef(BaseModel):
    name: str = Field(examples=["shipment-risk"])
    version: int = Field(examples=[3])
    alias: str = Field(examples=["champion"])


class Reason(BaseModel):
    feature: str = Field(description="Model input name.", examples=["unit_value_to_reference"])
    value: float | str | None = Field(description="The entry's value of that input.", examples=[0.12])
    contribution: float = Field(description="SHAP contribution in log-odds.", examples=[1.37])
    effect: str = Field(description="raises risk, lowers risk, or rule (a policy rule hit).", examples=["raises risk"])
    sentence: str = Field(
        examples=["declared value per unit is 12% of the usual for HTS 6109.10.0012 ($0.38 against $3.10)"]
    )


class Contribution(BaseModel):
    feature: str = Field(examples=["country_of_origin"])
    value: float | str | None = Field(
        description="What a reviewer reads: category text or the number.", examples=["VN"]
    )
    input: float | None = Field(description="The exact model input (categories as codes).", examples=[17.0])
    contribution: float = Field(description="SHAP contribution in log-odds.", examples=[0.21])


class DecisionOut(BaseModel):
    """A scored entry: calibrated score, intervention and its top reasons."""

    model_config = ConfigDict(from_attributes=True)

    entry_id: str = Field(examples=["DOC0000001-4"])
    score: float = Field(ge=0, le=1, description="Calibrated probability of a violation.", examples=[0.31])
    risk_band: str = Field(examples=["high"])
    action: Action = Field(examples=["non_intrusive_exam"])
    raw_score: float = Field(description="The model's margin (log-odds); base_value + contributions.", examples=[-0.8])
    base_value: float = Field(description="The model's expected margin (SHAP base value).", examples=[-3.1])
    expected_revenue: float | None = Field(
        description="Probability x revenue at stake if violating (USD), when the model estimates revenue.",
        examples=[412.5],
    )
    ranking: str = Field(
        description="The objective that chose the action: probability or expected_revenue.", examples=["probability"]
    )
    policy_version: int = Field(description="The policy version that made the decision.", examples=[3])
    selection: str | None = Field(
        description="Why the entry is inspected: model, rule, random (compliance sample), explore (exploration "
        "budget), or null (released).",
        examples=["model"],
    )
    selection_probability: float = Field(
        description="The chance this policy inspects the entry: 1 when the model or a rule picks it, else that of "
        "the random sample and the exploration budget together.",
        examples=[1.0],
    )
    likely_violation: Violation | None = Field(
        None,
        description="The violation pattern the reasons point to (the pattern whose signals raise the score "
        "most), or null when none stands out. Read from the explanation: the model does not classify.",
        examples=["undervaluation"],
    )
    reasons: list[Reason]
    model: ModelInfoRef
    decided_at: datetime
    request_id: str = Field(description="The request that made the decision.")
    replayed: bool = Field(False, description="True when this entry had been decided by this model before.")


class ScoreResponse(BaseModel):
    request_id: str
    decisions: list[DecisionOut]


class PastDecision(BaseModel):
    model: ModelInfoRef
    decided_at: datetime
    score: float
    action: Action


class WaiverOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: Action
    reason: str
    waived_by: str
    waived_at: datetime
    recorded_by_key: str | None = Field(None, description="The API key that recorded the waiver.")
    model_version: int = Field(description="The model version of the decision waived.")


class OutcomeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entry_id: str
    inspected_at: datetime
    violation: bool
    violation_types: list[Violation]
    revenue_recovered: float
    selected_by: SelectedBy
    note: str
    recorded_at: datetime
    recorded_by_key: str = Field(description="The API key that recorded the outcome.")
    replayed: bool = Field(False, description="True when this outcome had been recorded before.")


class KeyIn(TextInput):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, json_schema_extra=text_schema(1), examples=["port-2704-desk"])
    role: Role


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: Role
    prefix: str = Field(description="The key's first characters.")
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None = Field(None, description="The key (or command-line user) that revoked it.")


class NewKey(KeyOut):
    key: str = Field(description="The key itself: shown this once, kept only as a hash.")


class EntryOut(RootModel[dict[str, JsonValue]]):
    """The entry exactly as it was sent (an HTS code with its dots, a country in lower case, a CSV's cells as
    text): the record, not the normalised values that were scored."""


class DecisionRecord(DecisionOut):
    """Exactly what was decided: the entry as received and every feature's contribution, and any waivers."""

    entry: EntryOut
    contributions: list[Contribution]
    earlier: list[PastDecision] = Field(default=[], description="Decisions on this entry by other model versions.")
    waivers: list[WaiverOut] = Field(default=[], description="Overrides of this decision, oldest first.")
    effective_action: Action = Field(description="The latest waiver's action, else the decided action.")
    outcome: OutcomeOut | None = Field(None, description="What the inspection found, once recorded.")


class ModelInfo(BaseModel):
    name: str
    version: int
    alias: str
    run_id: str
    features: list[str]
    metrics: dict[str, float] = Field(description="Test-window metrics of the training run.")
    trained_on: dict[str, str] = Field(description="Data fingerprint, rows and split of the training run.")
    source: str = Field(description="Where it was loaded from: registry, or local cache if the registry was down.")


class ReloadOut(BaseModel):
    changed: bool = Field(description="True when a new version now serves.")
    version: int = Field(description="The version serving now.")
    previous_version: int


class PolicyIn(TextInput):
    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(description="The new policy (see decisions/policy.example.yaml).")
    note: str = Field("", max_length=500, json_schema_extra=text_schema(0), description="Why this version.")
    by: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        json_schema_extra=text_schema(1),
        examples=["targeting.admin"],
        description="Who sets it, kept as a note beside the key that sets it; default: the key's name.",
    )


class PolicyOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str = Field(description="Who set it, as given in `by` (or the key's name); a note, not proof.")
    created_by_key: str | None = Field(
        description="The API key that set it; null when set from the command line or the service's settings."
    )
    note: str
    policy: dict[str, Any] = Field(description="The policy document (see decisions/policy.py and policy.example.yaml).")


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] = Field(default={}, examples=[{"model": "shipment-risk v3", "database": "ok"}])


class ErrorItem(BaseModel):
    field: str = Field(examples=["entries[0].hts_code"])
    reason: str = Field(examples=["Value error, HTS code must have exactly 10 digits (e.g. 8541.43.0010), got '123'"])


class ErrorBody(BaseModel):
    detail: str | list[ErrorItem]


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid API key."},
    403: {"model": ErrorBody, "description": "The key's role may not do this."},
    422: {"model": ErrorBody, "description": "A field, parameter or value is wrong: which, and why."},
    503: {"model": ErrorBody, "description": "The database is unavailable: nothing was done."},
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON."},
    413: {"model": ErrorBody, "description": "The body is over the size limit."},
}
