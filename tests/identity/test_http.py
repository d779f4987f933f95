"""HTTP adapters against the stub register: over ASGI, over a real socket, and against faults."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from identity.errors import InvalidUscc, SourceUnavailable, UnavailableReason
from identity.sources import demo
from identity.sources.base import (
    EntityOutcome,
    EntityQuery,
    EntityStatus,
    PersonOutcome,
    PersonQuery,
    SourceName,
)
from identity.sources.dataset import SyntheticDataset
from identity.sources.http import HttpLegalEntitySource, HttpPopulationSource, entity_to_json
from identity.sources.resilience import GuardedPopulationSource, GuardPolicy, SourceGuard
from identity.sources.stub import StubBehaviour, entity_outcome, population_outcome
from identity.sources.stub_server import create_stub_app
from identity.sources.synthetic import generate

pytestmark = pytest.mark.anyio

CITIZEN = demo.DEMO_CITIZEN


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate()


@pytest.fixture(scope="module")
def app(data: SyntheticDataset) -> FastAPI:
    return create_stub_app(data)


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stub.test")


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# -- answers over HTTP equal the stub's -----------------------------------------------------------


async def test_population_over_asgi(app: FastAPI, data: SyntheticDataset) -> None:
    async with asgi_client(app) as client:
        source = HttpPopulationSource(client)
        cases = [
            (PersonQuery("张三", CITIZEN.id_number), PersonOutcome.MATCH),
            (PersonQuery("张叁", CITIZEN.id_number), PersonOutcome.MISMATCH),
            (PersonQuery("李四", demo.DEMO_DECEASED.id_number), PersonOutcome.DECEASED),
            (PersonQuery("王伍", demo.DEMO_MISMATCH.id_number), PersonOutcome.MISMATCH),
            (PersonQuery("张三", "110101198001010010"), PersonOutcome.NOT_FOUND),
        ]
        for query, expected in cases:
            assert (await source.check(query)).outcome is expected
        for person in data.persons[::97]:
            query = PersonQuery(person.name, person.id_number)
            assert (await source.check(query)).outcome is population_outcome(data, query)


async def test_legal_entity_over_asgi(app: FastAPI, data: SyntheticDataset) -> None:
    async with asgi_client(app) as client:
        source = HttpLegalEntitySource(client)
        assert await source.lookup(demo.DEMO_DEPARTMENT.uscc) == demo.DEMO_DEPARTMENT.record()
        revoked = await source.lookup(demo.DEMO_REVOKED_ENTITY.uscc)
        assert revoked is not None and revoked.status is EntityStatus.REVOKED
        assert await source.lookup("91110000600037341L") is None  # explicit not-found
        with pytest.raises(InvalidUscc):
            await source.lookup("91110000600037341M")  # refused before any request
        company = demo.DEMO_COMPANY
        result = await source.check(EntityQuery(company.uscc, "天津市示例科技有限公司", "刘洋"))
        assert result.outcome is EntityOutcome.NAME_MISMATCH
        cancelled = demo.DEMO_CANCELLED_ENTITY
        result = await source.check(EntityQuery(cancelled.uscc, cancelled.name, cancelled.legal_rep))
        assert result.outcome is EntityOutcome.CANCELLED
        for entity in data.entities[::37]:
            assert await source.lookup(entity.uscc) == entity.record()
            query = EntityQuery(entity.uscc, entity.name, entity.legal_rep)
            assert (await source.check(query)).outcome is entity_outcome(data, query)


async def test_wrong_base_url_is_try_later_not_not_found(app: FastAPI) -> None:
    # The app's own 404 for an unknown path must not be read as "no such entity".
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stub.test/v0") as client:
        with pytest.raises(SourceUnavailable) as info:
            await HttpLegalEntitySource(client).lookup(demo.DEMO_COMPANY.uscc)
    assert info.value.reason is UnavailableReason.BAD_RESPONSE


async def test_over_a_real_socket(data: SyntheticDataset) -> None:
    with serve(create_stub_app(data)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            population = HttpPopulationSource(client)
            assert (await population.check(PersonQuery("张三", CITIZEN.id_number))).matched
            assert (await population.check(PersonQuery("李四", demo.DEMO_DECEASED.id_number))).outcome is (
                PersonOutcome.DECEASED
            )
            entities = HttpLegalEntitySource(client)
            assert await entities.lookup(demo.DEMO_COMPANY.uscc) == demo.DEMO_COMPANY.record()
            assert await entities.lookup("11100000000013338W") is None


async def test_real_socket_timeout_is_try_later(data: SyntheticDataset) -> None:
    with serve(create_stub_app(data, StubBehaviour(latency=0.5))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=0.1) as client:
            with pytest.raises(SourceUnavailable) as info:
                await HttpPopulationSource(client).check(PersonQuery("张三", CITIZEN.id_number))
    assert info.value.reason is UnavailableReason.TIMEOUT


async def test_refused_connection_is_try_later() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(SourceUnavailable) as info:
            await HttpLegalEntitySource(client).lookup(demo.DEMO_COMPANY.uscc)
    assert (info.value.source, info.value.reason) == (SourceName.LEGAL_ENTITY, UnavailableReason.ERROR)


async def test_server_side_failure_is_503_and_try_later(data: SyntheticDataset) -> None:
    async with asgi_client(create_stub_app(data, StubBehaviour(failure_rate=1.0))) as client:
        response = await client.post(
            "/population/v1/check", json={"name": "张三", "id_number": CITIZEN.id_number}
        )
        assert response.status_code == 503
        with pytest.raises(SourceUnavailable) as info:
            await HttpPopulationSource(client).check(PersonQuery("张三", CITIZEN.id_number))
        assert info.value.reason is UnavailableReason.ERROR
        with pytest.raises(SourceUnavailable):
            await HttpLegalEntitySource(client).lookup(demo.DEMO_COMPANY.uscc)  # never "not found"


async def test_guarded_http_source_times_out_over_asgi(data: SyntheticDataset) -> None:
    async with asgi_client(create_stub_app(data, StubBehaviour(latency=0.5))) as client:
        guard = SourceGuard(SourceName.POPULATION, GuardPolicy(timeout=0.05))
        source = GuardedPopulationSource(HttpPopulationSource(client), guard)
        with pytest.raises(SourceUnavailable) as info:
            await source.check(PersonQuery("张三", CITIZEN.id_number))
    assert info.value.reason is UnavailableReason.TIMEOUT


async def test_stub_server_refuses_bad_input_without_echoing_it(app: FastAPI) -> None:
    bad_id = CITIZEN.id_number[:-1] + "0"
    async with asgi_client(app) as client:
        for payload in (
            {"name": "张三", "id_number": bad_id},
            {"name": "张三", "id_number": 12},
            {"id_number": bad_id},
        ):
            response = await client.post("/population/v1/check", json=payload)
            assert response.status_code == 400
            assert bad_id not in response.text
            assert response.json()["error"] == "invalid_input"


# -- faults: never a wrong answer -----------------------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://register.test")


def fixed(
    status: int, content: bytes | str, content_type: str = "application/json"
) -> Callable[[httpx.Request], httpx.Response]:
    body = content.encode() if isinstance(content, str) else content
    return lambda request: httpx.Response(status, content=body, headers={"content-type": content_type})


FAULTS = {
    "500": (fixed(500, '{"outcome": "match"}'), UnavailableReason.ERROR),
    "502-html": (fixed(502, "<html>Bad Gateway</html>", "text/html"), UnavailableReason.ERROR),
    "503": (fixed(503, '{"error": "unavailable"}'), UnavailableReason.ERROR),
    "200-garbage": (fixed(200, b"\x00\xffnot json"), UnavailableReason.BAD_RESPONSE),
    "200-html": (fixed(200, "<html>login page</html>", "text/html"), UnavailableReason.BAD_RESPONSE),
    "200-truncated": (fixed(200, '{"outcome": "mat'), UnavailableReason.BAD_RESPONSE),
    "200-list": (fixed(200, '["match"]'), UnavailableReason.BAD_RESPONSE),
    "200-unknown-outcome": (fixed(200, '{"outcome": "probably"}'), UnavailableReason.BAD_RESPONSE),
    "200-outcome-not-string": (fixed(200, '{"outcome": true}'), UnavailableReason.BAD_RESPONSE),
    "200-no-outcome": (fixed(200, "{}"), UnavailableReason.BAD_RESPONSE),
    "404-bare": (fixed(404, "", "text/plain"), UnavailableReason.BAD_RESPONSE),
    "404-framework": (fixed(404, '{"detail": "Not Found"}'), UnavailableReason.BAD_RESPONSE),
    "404-explicit": (fixed(404, '{"outcome": "not_found"}'), UnavailableReason.BAD_RESPONSE),
    "302": (fixed(302, ""), UnavailableReason.BAD_RESPONSE),
    "401": (fixed(401, '{"error": "unauthorised"}'), UnavailableReason.BAD_RESPONSE),
}


@pytest.mark.parametrize(("handler", "reason"), FAULTS.values(), ids=FAULTS.keys())
async def test_population_faults_are_try_later(
    handler: Callable[[httpx.Request], httpx.Response], reason: UnavailableReason
) -> None:
    async with mock_client(handler) as client:
        with pytest.raises(SourceUnavailable) as info:
            await HttpPopulationSource(client).check(PersonQuery("张三", CITIZEN.id_number))
    assert (info.value.source, info.value.reason) == (SourceName.POPULATION, reason)
    assert CITIZEN.id_number not in str(info.value)


def _entity_body(**changes: str) -> str:
    return json.dumps({"entity": {**entity_to_json(demo.DEMO_COMPANY.record()), **changes}})


ENTITY_FAULTS = {
    "404-bare": fixed(404, ""),
    "404-framework": fixed(404, '{"detail": "Not Found"}'),
    "404-not-found-plus": fixed(404, '{"outcome": "not_found", "hint": "x"}'),
    "500": fixed(500, '{"outcome": "not_found"}'),
    "200-no-entity": fixed(200, '{"outcome": "not_found"}'),
    "200-other-entity": fixed(200, _entity_body(uscc=demo.DEMO_DEPARTMENT.uscc)),
    "200-bad-status": fixed(200, _entity_body(status="dormant")),
    "200-bad-date": fixed(200, _entity_body(registered_on="2016-02-30")),
    "200-empty-name": fixed(200, _entity_body(name="")),
}


@pytest.mark.parametrize("handler", ENTITY_FAULTS.values(), ids=ENTITY_FAULTS.keys())
async def test_entity_lookup_faults_are_try_later_never_not_found(
    handler: Callable[[httpx.Request], httpx.Response],
) -> None:
    async with mock_client(handler) as client:
        with pytest.raises(SourceUnavailable):
            await HttpLegalEntitySource(client).lookup(demo.DEMO_COMPANY.uscc)


async def test_transport_errors_are_try_later() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    for handler, reason in ((broken, UnavailableReason.ERROR), (slow, UnavailableReason.TIMEOUT)):
        async with mock_client(handler) as client:
            with pytest.raises(SourceUnavailable) as info:
                await HttpPopulationSource(client).check(PersonQuery("张三", CITIZEN.id_number))
        assert info.value.reason is reason


async def test_personal_data_goes_in_the_body_not_the_url() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"outcome": "match"})

    async with mock_client(record) as client:
        assert (await HttpPopulationSource(client).check(PersonQuery("张三", CITIZEN.id_number))).matched
    (request,) = seen
    assert request.method == "POST" and CITIZEN.id_number not in str(request.url)
    assert json.loads(request.content) == {"name": "张三", "id_number": CITIZEN.id_number}
