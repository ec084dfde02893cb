from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from service.deps import ReviewerKey, ScorerDep, SessionDep, SettingsDep
from service.monitoring import DriftMonitor, DriftReport, drift
from service.schemas import AUTH_ERRORS, DriftOut

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


def _out(report: DriftReport) -> DriftOut:
    return DriftOut.model_validate(
        {
            **report.__dict__,
            "flagged": [c.name for c in report.flagged],
            "columns": [c.__dict__ for c in report.columns],
        }
    )


@router.get("/drift", response_model=DriftOut, responses=AUTH_ERRORS)
async def drift_report(
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
