"""GET /v1/performance: measured success over a window of decisions, and its response models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from decisions.performance import Compliance, Performance, Ratio, Tally
from decisions.store import performance as measured
from service.deps import PolicyDep, ReviewerKey, SessionDep
from service.schemas import AUTH_ERRORS

router = APIRouter(prefix="/v1", tags=["performance"])
DEFAULT_DAYS = 30


class WindowInvalid(ValueError):
    """The window's bounds cannot be read, or do not make a window: `field` names the bound at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def window(start: datetime | None, end: datetime | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC (a bound without a zone is UTC): by default the last 30 UTC days, today included. Whole
    days are read from the daily counts; a window with a bound inside a day passes over its decisions."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = _utc(end) if end else today + timedelta(days=1)
    start = _utc(start) if start else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise WindowInvalid("from", f"must be before to ({start.isoformat()} is not before {end.isoformat()})")
    return start, end


class RateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    estimate: float
    low: float = Field(description="Lower bound of the 95 % interval.")
    high: float = Field(description="Upper bound of the 95 % interval.")


class RatioOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    estimate: float
    low: float | None = Field(description="Lower bound of the 95 % interval; null where undefined.")
    high: float | None


class TallyOut(BaseModel):
    entries: int = Field(description="Entries first decided in the window.")
    inspections: int = Field(description="Sent to an intervention by their decision, or inspected anyway.")
    outcomes: int = Field(description="Inspections with an outcome recorded.")
    violations: int = Field(description="Outcomes that found a violation.")
    revenue_recovered: float = Field(description="USD, summed over the outcomes.")
    hit_rate: RateOut | None = Field(description="violations / outcomes, Wilson 95 % interval; null without outcomes.")


class SourceOut(TallyOut):
    source: str = Field(description="model, rule, random, officer, audit…; none: released and not inspected.")


class LaneOut(TallyOut):
    lane: str = Field(description="The first decision's action.")


class CellOut(TallyOut):
    source: str
    lane: str


class StratumOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    stratum: str
    entries: int = Field(description="N_h: entries first decided in the window in this stratum.")
    weight: float = Field(description="N_h / N over the strata with a sample (0 without one).")
    sampled: int = Field(description="n_h: random picks with an outcome.")
    violations: int
    compliance: RateOut | None = Field(description="1 - violations / sampled, Wilson 95 %; null: no sample.")


class ComplianceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    estimate: float | None = Field(description="Compliance rate of the stream (TCM stratified estimator).")
    low: float | None
    high: float | None
    standard_error: float | None
    entries: int
    sampled: int
    violations: int
    represented_share: float | None = Field(description="Share of the entries in strata with a random outcome.")
    stratified_by: str | None = Field(description="The policy's stratum column (exploration.by).")
    strata: list[StratumOut]
    unsampled: list[str] = Field(description="Strata with entries but no random outcome: not estimated.")


class PerformanceOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from", description="Start of the window (included), UTC.")
    to: datetime = Field(description="End of the window (excluded), UTC.")
    total: TallyOut
    sources: list[SourceOut] = Field(description="Known sources in a fixed order, then any other found.")
    lanes: list[LaneOut]
    cells: list[CellOut] = Field(description="Each source in each lane.")
    lift: RatioOut | None = Field(description="Model hit rate / random hit rate (Katz log interval); null: undefined.")
    released_without_intervention: int
    released_share: float | None = Field(description="Released by their decision and never inspected / entries.")
    median_seconds_to_outcome: float | None = Field(description="Median of inspected_at - decided_at.")
    compliance: ComplianceOut


def _tally(t: Tally) -> dict[str, object]:
    rate = t.hit_rate
    return {**t.__dict__, "hit_rate": RateOut.model_validate(rate) if rate else None}


def _compliance(c: Compliance, by: str | None) -> ComplianceOut:
    strata = [
        StratumOut.model_validate({**s.__dict__, "compliance": s.compliance.__dict__ if s.compliance else None})
        for s in c.strata
    ]
    return ComplianceOut.model_validate({**c.__dict__, "strata": strata, "stratified_by": by})


def performance_out(p: Performance) -> PerformanceOut:
    """The API's answer for a window's figures."""
    lift: Ratio | None = p.lift
    return PerformanceOut.model_validate(
        {
            "from": p.start,
            "to": p.end,
            "total": _tally(p.total),
            "sources": [{"source": s, **_tally(t)} for s, t in p.sources],
            "lanes": [{"lane": lane, **_tally(t)} for lane, t in p.lanes],
            "cells": [
                {"source": s, "lane": lane, **_tally(p.cells[s, lane])}
                for s, _ in p.sources
                for lane, _ in p.lanes
                if (s, lane) in p.cells
            ],
            "lift": RatioOut.model_validate(lift) if lift else None,
            "released_without_intervention": p.released_without_intervention,
            "released_share": p.released_share,
            "median_seconds_to_outcome": p.median_seconds_to_outcome,
            "compliance": _compliance(p.compliance, p.stratified_by),
        }
    )


@router.get("/performance", response_model=PerformanceOut, responses=AUTH_ERRORS)
def read_performance(
    session: SessionDep,
    rules: PolicyDep,
    caller: ReviewerKey,
    start: datetime | None = Query(
        None,
        alias="from",
        description="Start, included: a date or a time (UTC if no zone). Default: 30 days before to.",
    ),
    end: datetime | None = Query(None, alias="to", description="End, excluded. Default: the next midnight UTC."),
) -> PerformanceOut:
    """Measured success for the entries first decided in [from, to): per selection source and lane the entries,
    inspections, outcomes, violations, hit rate (Wilson 95 %) and revenue recovered; the lift of model over
    random selection; the share released without intervention; the median delay to an outcome; and the
    compliance rate of the whole stream estimated from the stratified random sample (CBP's TCM estimator)."""
    try:
        first, last = window(start, end)
    except WindowInvalid as exc:
        raise HTTPException(422, [{"field": exc.field, "reason": exc.reason}]) from exc
    return performance_out(measured.performance(session, first, last, rules.policy.exploration.by))
