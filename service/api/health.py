from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from service import store
from service.deps import ScorerDep
from service.schemas import Health, ModelInfo

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> JSONResponse:
    """The model is loaded and the database answers."""
    scorer = request.app.state.scorer
    checks = {"model": f"{scorer.ref.name} v{scorer.ref.version}"}
    try:
        with request.app.state.sessions() as session:
            store.ping(session)
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = checks["database"] == "ok"
    return JSONResponse(Health(status="ok" if ok else "unavailable", checks=checks).model_dump(), 200 if ok else 503)


@router.get("/v1/model", response_model=ModelInfo)
def model_info(scorer: ScorerDep) -> ModelInfo:
    """Which model version serves, and how it did on its test window."""
    keep = ("data_sha256", "data_path", "rows_total", "rows_labelled", "valid_from", "test_from")
    return ModelInfo(
        name=scorer.ref.name, version=scorer.ref.version, alias=scorer.ref.alias, run_id=scorer.ref.run_id,
        features=scorer.pipeline.feature_names, metrics=scorer.metrics,
        trained_on={k: v for k, v in scorer.params.items() if k in keep},
    )  # fmt: skip
