from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from decisions import store
from service.deps import AdminKey, AnyKey, MetricsDep, ScorerDep, ScrapeKey
from service.schemas import AUTH_ERRORS, ErrorBody, Health, ModelInfo, ReloadOut
from service.serving import ModelSlot

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> JSONResponse:
    """The model is loaded (and from where) and the database answers."""
    slot: ModelSlot = request.app.state.slot
    ref = slot.scorer.ref
    checks = {"model": f"{ref.name} v{ref.version} from {slot.scorer.source}"}
    if slot.last_error:
        checks["model_reload"] = f"failed, still serving v{ref.version}: {slot.last_error}"
    try:
        with request.app.state.sessions() as session:
            store.ping(session)
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = checks["database"] == "ok"
    return JSONResponse(Health(status="ok" if ok else "unavailable", checks=checks).model_dump(), 200 if ok else 503)


@router.get("/v1/model", response_model=ModelInfo, responses=AUTH_ERRORS)
def read_model(scorer: ScorerDep, caller: AnyKey) -> ModelInfo:
    """Which model version serves, and how it did on its test window."""
    keep = ("data_sha256", "data_path", "rows_total", "rows_labelled", "valid_from", "test_from")
    return ModelInfo(
        name=scorer.ref.name,
        version=scorer.ref.version,
        alias=scorer.ref.alias,
        run_id=scorer.ref.run_id,
        features=scorer.pipeline.feature_names,
        metrics=scorer.metrics,
        source=scorer.source,
        trained_on={k: v for k, v in scorer.params.items() if k in keep},
    )


@router.post("/v1/model/reload", response_model=ReloadOut, responses={502: {"model": ErrorBody}, **AUTH_ERRORS})
async def reload_model(request: Request, caller: AdminKey) -> JSONResponse:
    """Serve the version the alias points at now (admin). The new version is loaded beside the old one
    and swapped in; if it cannot be loaded, the old one keeps serving and this answers 502."""
    slot: ModelSlot = request.app.state.slot
    result = await run_in_threadpool(slot.reload)
    if result.error is not None:
        return JSONResponse({"detail": f"reload failed, still serving version {result.version}: {result.error}"}, 502)
    return JSONResponse(
        ReloadOut(changed=result.changed, version=result.version, previous_version=result.previous_version).model_dump()
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}, **AUTH_ERRORS})
def metrics(metrics: MetricsDep, caller: ScrapeKey) -> Response:
    """Prometheus metrics (any key: point the scraper's bearer token at a key of its own). While the database
    is unreachable, a key it accepted before is still accepted here, so that monitoring sees the outage."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
