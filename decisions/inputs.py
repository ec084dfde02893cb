"""What a reviewer or a targeting system gives the domain: an inspection's outcome and a waiver, checked as
they arrive (through the API or the desk's forms alike)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from decisions.actions import Action
from features.codes import Violation
from features.schema import Number, no_nul, text_schema


class TextInput(BaseModel):
    """A request body whose text is stripped of the whitespace around it, and refused if it holds a NUL character."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return no_nul(value)


class WaiverIn(TextInput):
    model_config = ConfigDict(extra="forbid")

    action: Action = Field(description="The action that replaces the decided one.", examples=["release"])
    reason: str = Field(
        min_length=5,
        max_length=2000,
        json_schema_extra=text_schema(5),
        description="Why; mandatory (at least 5 characters besides spaces).",
        examples=["Importer's CF-28 response documents the price; valid contract on file."],
    )
    by: str = Field(
        min_length=1,
        max_length=128,
        json_schema_extra=text_schema(1),
        examples=["officer.j.doe"],
        description="Who waives (the officer), a note beside the key that records it.",
    )


class SelectedBy(StrEnum):
    MODEL = "model"  # the score or expected revenue passed the lane's threshold
    RULE = "rule"  # a policy rule or watchlist hit
    RANDOM = "random"  # the random compliance sample
    EXPLORE = "explore"  # the exploration budget: an entry whose accounts the model knows least
    OFFICER = "officer"  # an officer's own referral
    AUDIT = "audit"  # an audit after release, of an entry the post-release audit lane chose


class OutcomeIn(TextInput):
    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(min_length=1, max_length=64, json_schema_extra=text_schema(1), examples=["DOC0000001-4"])
    inspected_at: datetime = Field(
        description="When the inspection ended (UTC if no zone).", examples=["2025-03-16T14:00:00Z"]
    )
    violation_types: list[Violation] = Field(
        max_length=len(Violation),
        description="What was found, each type once; empty when the entry was compliant.",
        examples=[["undervaluation"]],
        json_schema_extra={"uniqueItems": True},
    )
    revenue_recovered: Number = Field(
        0.0,
        ge=0,
        le=1e12,
        allow_inf_nan=False,
        description="Duties, fees and penalties assessed, in USD.",
        examples=[4250.0],
    )
    selected_by: SelectedBy = Field(description="Why the entry was inspected.", examples=["model"])
    note: str = Field("", max_length=2000, json_schema_extra=text_schema(0), description="The officer's note.")

    @field_validator("inspected_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("violation_types")
    @classmethod
    def _distinct(cls, value: list[Violation]) -> list[Violation]:
        if len(set(value)) < len(value):
            raise ValueError("a violation type is listed twice")
        return sorted(value)
