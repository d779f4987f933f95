"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from api.deps import ServicesDep

router = APIRouter(tags=["ops"])


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyChecks(BaseModel):
    database: str = Field(description='"ok" or "error: <exception class>"')
    pki: str | SkipJsonSchema[None] = Field(
        default=None, description='"ok" or "not initialised"; absent if the database failed'
    )


class ReadyOut(BaseModel):
    """Readiness: every check "ok" (200, ready) or not (503, not ready)."""

    status: Literal["ready", "not ready"]
    checks: ReadyChecks


@router.get("/healthz", response_model=HealthOut)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    responses={200: {"model": ReadyOut, "description": "ready"}, 503: {"model": ReadyOut, "description": "not ready"}},
)
def readyz(services: ServicesDep) -> dict[str, object] | JSONResponse:
    """Ready to serve: the database answers and the PKI exists."""
    checks: dict[str, str] = {}
    try:
        with services.db.session() as session:
            session.connection().execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
            checks["pki"] = "ok" if services.ca.is_initialised(session) else "not initialised"
    except Exception as exc:  # readiness must answer, whatever broke
        checks["database"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    return body if ready else JSONResponse(body, status_code=503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics() -> Response:
    """Prometheus text exposition (all workers aggregated in multi-process mode). The deployment's
    nginx serves it to the monitoring network only."""
    from core import metrics

    body, content_type = metrics.render()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
