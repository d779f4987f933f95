"""A stand-in remote register: the stub population and legal-entity sources behind the JSON API
that :mod:`identity.sources.http` speaks.

It exists to show (and test) that a real source is just an HTTP client of the same protocol.
Run it on its own with::

    uvicorn identity.sources.stub_server:create_stub_app --factory --port 8701

The stubs' latency and failures carry over: a simulated failure is a ``503``. Invalid input is
a ``400`` that, unlike FastAPI's default ``422``, never echoes the request (it holds ID numbers).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.errors import InvalidInput
from identity.errors import SourceUnavailable
from identity.sources.base import EntityQuery, PersonQuery
from identity.sources.dataset import SyntheticDataset
from identity.sources.http import (
    ENTITY_CHECK_PATH,
    ENTITY_LOOKUP_PATH,
    NOT_FOUND_BODY,
    POPULATION_CHECK_PATH,
    entity_to_json,
)
from identity.sources.stub import StubBehaviour, StubLegalEntitySource, StubPopulationSource
from identity.sources.synthetic import generate

__all__ = ["create_stub_app"]


class _PersonCheck(BaseModel):
    name: str
    id_number: str


class _EntityCheck(BaseModel):
    uscc: str
    name: str
    legal_rep: str


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    code = exc.code if isinstance(exc, InvalidInput) else "invalid-input"
    return JSONResponse({"error": "invalid_input", "code": code}, status_code=400)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "unavailable"}, status_code=503)


def create_stub_app(
    dataset: SyntheticDataset | None = None, behaviour: StubBehaviour | None = None
) -> FastAPI:
    """The stub register app over ``dataset`` (default: the default synthetic data set), its stubs
    misbehaving as ``behaviour`` says."""
    data = dataset or generate()
    people = StubPopulationSource(data, behaviour)
    entities = StubLegalEntitySource(data, behaviour)

    app = FastAPI(title="yiwangtong stub base-data register", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(InvalidInput, _invalid)
    app.add_exception_handler(SourceUnavailable, _unavailable)

    @app.post(POPULATION_CHECK_PATH)
    async def population_check(body: _PersonCheck) -> dict[str, str]:
        result = await people.check(PersonQuery(body.name, body.id_number))
        return {"outcome": result.outcome.value}

    @app.get(ENTITY_LOOKUP_PATH)
    async def entity_lookup(uscc: str) -> JSONResponse:
        record = await entities.lookup(uscc)
        if record is None:
            return JSONResponse(NOT_FOUND_BODY, status_code=404)
        return JSONResponse({"entity": entity_to_json(record)})

    @app.post(ENTITY_CHECK_PATH)
    async def entity_check(body: _EntityCheck) -> dict[str, str]:
        result = await entities.check(EntityQuery(body.uscc, body.name, body.legal_rep))
        return {"outcome": result.outcome.value}

    return app
