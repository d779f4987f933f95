"""HTTP client adapters: a real base-data source is an HTTP client implementing the same protocol.

:class:`HttpPopulationSource` and :class:`HttpLegalEntitySource` speak the small JSON API below
(served for tests and demos by :mod:`identity.sources.stub_server`; a real register's API would
get its own adapter of the same shape). They take an :class:`httpx.AsyncClient` with the base
URL and timeouts set, so tests can hand in an ASGI transport and production a client with mTLS.

Wire format (JSON, UTF-8)::

    POST {base}/population/v1/check          {"name", "id_number"}          -> 200 {"outcome"}
    GET  {base}/legal-entity/v1/entities/{uscc}                             -> 200 {"entity": {...}}
                                                                           -> 404 {"outcome": "not_found"}
    POST {base}/legal-entity/v1/check        {"uscc", "name", "legal_rep"}  -> 200 {"outcome"}
    entity: {"uscc", "name", "legal_rep", "status", "registered_on": "YYYY-MM-DD"}

Personal data travels only in POST bodies, never in URLs (which end up in access logs).

Never a wrong answer: anything but a well-formed answer raises
:class:`~identity.errors.SourceUnavailable` — transport errors and 5xx (``error``), timeouts
(``timeout``), other statuses, non-JSON bodies, unknown outcome values, missing fields, or an
entity for another code than asked (``bad_response``). A 404 means "not found" only when its body
says so explicitly; a bare 404 (wrong base URL, proxy page) is ``bad_response``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Final, TypeVar

import httpx

from identity.errors import SourceUnavailable, UnavailableReason
from identity.numbers import validate_uscc
from identity.sources.base import (
    EntityCheckResult,
    EntityOutcome,
    EntityQuery,
    EntityRecord,
    EntityStatus,
    PersonOutcome,
    PersonQuery,
    PopulationResult,
    SourceName,
)

__all__ = [
    "ENTITY_CHECK_PATH",
    "ENTITY_LOOKUP_PATH",
    "NOT_FOUND_BODY",
    "POPULATION_CHECK_PATH",
    "HttpLegalEntitySource",
    "HttpPopulationSource",
    "entity_to_json",
]

POPULATION_CHECK_PATH: Final = "/population/v1/check"
ENTITY_LOOKUP_PATH: Final = "/legal-entity/v1/entities/{uscc}"
ENTITY_CHECK_PATH: Final = "/legal-entity/v1/check"
#: The explicit "no such record" answer; the only 404 body that means "not found".
NOT_FOUND_BODY: Final = {"outcome": "not_found"}

E = TypeVar("E", bound=StrEnum)


def entity_to_json(record: EntityRecord) -> dict[str, str]:
    return {
        "uscc": record.uscc,
        "name": record.name,
        "legal_rep": record.legal_rep,
        "status": record.status.value,
        "registered_on": record.registered_on.isoformat(),
    }


class _Exchange:
    """One source's HTTP exchanges and the strict reading of their answers."""

    def __init__(self, client: httpx.AsyncClient, source: SourceName) -> None:
        self._client = client
        self._source = source

    def bad(self, detail: str) -> SourceUnavailable:
        return SourceUnavailable(self._source, UnavailableReason.BAD_RESPONSE, detail)

    async def _json(
        self, method: str, path: str, payload: dict[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """Status (200 or 404) and JSON object of the answer; anything else is ``SourceUnavailable``."""
        try:
            response = await self._client.request(method, path, json=payload)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(self._source, UnavailableReason.TIMEOUT, type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(self._source, UnavailableReason.ERROR, type(exc).__name__) from exc
        status = response.status_code
        if status >= 500:
            raise SourceUnavailable(self._source, UnavailableReason.ERROR, f"HTTP {status}")
        if status not in (200, 404):
            raise self.bad(f"HTTP {status}")
        try:
            body = response.json()
        except ValueError:
            raise self.bad(f"HTTP {status} with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise self.bad("the answer is not a JSON object")
        return status, body

    async def answer(self, method: str, path: str, payload: dict[str, str] | None = None) -> dict[str, Any]:
        """The JSON object of a 200 answer (a 404 is never an answer for these calls)."""
        status, body = await self._json(method, path, payload)
        if status == 404:
            raise self.bad("HTTP 404")
        return body

    async def answer_or_not_found(self, method: str, path: str) -> dict[str, Any] | None:
        """The JSON object of a 200 answer, or ``None`` for a 404 that explicitly says not found."""
        status, body = await self._json(method, path, None)
        if status == 404:
            if body == NOT_FOUND_BODY:
                return None
            raise self.bad("HTTP 404 without an explicit not-found answer")
        return body

    def text(self, body: dict[str, Any], key: str) -> str:
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise self.bad(f"field {key!r} missing or not a string")
        return value

    def enum(self, kind: type[E], body: dict[str, Any], key: str) -> E:
        value = self.text(body, key)
        try:
            return kind(value)
        except ValueError:
            raise self.bad(f"unknown {key} value") from None


class HttpPopulationSource:
    """Population DB over HTTP (:class:`~identity.sources.base.PopulationSource`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._http = _Exchange(client, SourceName.POPULATION)

    async def check(self, query: PersonQuery) -> PopulationResult:
        payload = {"name": query.name, "id_number": query.id_number}
        body = await self._http.answer("POST", POPULATION_CHECK_PATH, payload)
        return PopulationResult(query, self._http.enum(PersonOutcome, body, "outcome"))


class HttpLegalEntitySource:
    """Legal-entity DB over HTTP (:class:`~identity.sources.base.LegalEntitySource`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._http = _Exchange(client, SourceName.LEGAL_ENTITY)

    async def lookup(self, uscc: str) -> EntityRecord | None:
        code = validate_uscc(uscc)
        body = await self._http.answer_or_not_found("GET", ENTITY_LOOKUP_PATH.format(uscc=code))
        if body is None:
            return None
        entity = body.get("entity")
        if not isinstance(entity, dict):
            raise self._http.bad("field 'entity' missing or not an object")
        try:
            registered_on = date.fromisoformat(self._http.text(entity, "registered_on"))
        except ValueError:
            raise self._http.bad("field 'registered_on' is not an ISO date") from None
        record = EntityRecord(
            uscc=self._http.text(entity, "uscc"),
            name=self._http.text(entity, "name"),
            legal_rep=self._http.text(entity, "legal_rep"),
            status=self._http.enum(EntityStatus, entity, "status"),
            registered_on=registered_on,
        )
        if record.uscc != code:
            raise self._http.bad("the answer is about another entity")
        return record

    async def check(self, query: EntityQuery) -> EntityCheckResult:
        payload = {"uscc": query.uscc, "name": query.name, "legal_rep": query.legal_rep}
        body = await self._http.answer("POST", ENTITY_CHECK_PATH, payload)
        return EntityCheckResult(query, self._http.enum(EntityOutcome, body, "outcome"))
