"""`GET /v1/monitoring/drift`: the recent decisions against the model's training reference, and its response bodies."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from service.deps import ReviewerKey, ScorerDep, SessionDep, SettingsDep
from service.monitoring import DriftMonitor, DriftReport, drift
from service.schemas import AUTH_ERRORS

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


class ColumnDriftOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="A model feature, or `score`.", examples=["unit_value_to_reference"])
    psi: float = Field(description="Population stability index against the training reference.", examples=[0.27])
    flagged: bool = Field(description="PSI above the threshold.")
    rows: int = Field(description="Recent values compared.")
    labels: list[str] = Field(description="The reference's bins.")
    expected: list[float] = Field(description="The reference's share in each bin.")
    actual: list[float] = Field(description="The recent decisions' share in each bin.")


class DriftOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_name: str
    model_version: int
    days: int = Field(description="The window: decisions of the last `days` days.")
    since: datetime
    computed_at: datetime
    decisions: int = Field(description="Recent decisions compared (the latest, up to the configured maximum).")
    reference: str = Field(description="The training window the reference describes; empty if the model has none.")
    threshold: float
    flagged: list[str] = Field(description="The columns over the threshold, worst first.")
    columns: list[ColumnDriftOut] = Field(description="Every column, worst first.")
    note: str = Field(description="Why nothing was compared, when nothing was.")
    expected_precision: dict[str, float] = Field(
        description="Precision at the top k % (1pct, 2pct, 5pct, 10pct) of the recent decisions as the model expects "
        "it before outcomes arrive: the mean calibrated score of those entries.",
        examples=[{"1pct": 0.41, "2pct": 0.33, "5pct": 0.22, "10pct": 0.15}],
    )


def _out(report: DriftReport) -> DriftOut:
    return DriftOut.model_validate(
        {
            **report.__dict__,
            "flagged": [c.name for c in report.flagged],
            "columns": [c.__dict__ for c in report.columns],
        }
    )


@router.get("/drift", response_model=DriftOut, responses=AUTH_ERRORS)
async def read_drift(
    request: Request,
    scorer: ScorerDep,
    session: SessionDep,
    settings: SettingsDep,
    caller: ReviewerKey,
    days: int | None = Query(None, ge=1, le=365, description="Another window than the service's `drift_days`."),
    refresh: bool = Query(False, description="Recompute the service's own window now (it also feeds /metrics)."),
) -> DriftOut:
    """How far the serving model's recent decisions have moved from its training reference: the population
    stability index of every feature and of the score, flagged above 0.2. The service's own window is
    recomputed every `drift_refresh_seconds` (or now, with `refresh`); another `days` is computed for this
    request."""
    if days is None or days == settings.drift_days:
        monitor: DriftMonitor = request.app.state.drift
        return _out(await run_in_threadpool(monitor.refresh if refresh else monitor.latest, scorer))
    return _out(await run_in_threadpool(drift, session, scorer, days, settings.drift_max_decisions))
