"""Every JSON success answer in the OpenAPI document has a precise schema, and the response models
pass the services' answers through unchanged.

The walk (``vague_json_successes``) looks at each operation's 2xx ``application/json`` (or
``+json``) responses: a missing or empty schema, an object without ``properties`` whose values are
untyped (``dict[str, Any]``: ``additionalProperties`` true or absent), or an array of those (also
inside ``anyOf`` / ``oneOf``) is vague, because schemathesis can then check nothing about it. Free
members nested inside a precise answer (a licence's type-specific ``data``, an audit entry's
``data``, a client's JWK Set) are not judged here. Bad inputs tried on the walk itself (so that it
can fail): a route returning ``dict[str, Any]``, one returning ``list[dict[str, Any]]``, one
returning an undocumented ``JSONResponse``, one documented with an empty schema, one with
``dict[str, Any] | None``; a precise model, a typed map and a 204 must pass.

The pass-through test compares what the routes answer with what the services return (the JSON the
routes sent before they had models): members kept, none added or dropped, timestamps not
re-rendered (``+00:00`` must not become ``Z``), absent optional members still absent, the client
secret only where it is shown, numbers masked.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.container import Services
from api.demo import CITIZEN_USER
from identity.sources.demo import DEMO_CITIZEN
from license import registry
from license.shares import Shares
from tests.identity.oauth_helpers import manager_token

#: Operations whose JSON success answer may stay imprecise, each with the reason ("METHOD /path
#: status" -> why). Empty: the standard formats (OIDC discovery, token, userinfo, introspection,
#: JWKS, GB/T 36903 metadata) all got schemas. An entry that is no longer vague fails the test.
ALLOWED_VAGUE: dict[str, str] = {}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _why_vague(doc: dict[str, Any], schema: dict[str, Any] | None) -> str | None:
    if not schema:
        return "no schema"
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for member in schema[key]:
                if _resolve(doc, member).get("type") != "null" and (why := _why_vague(doc, member)):
                    return f"{key} member: {why}"
            return None
    if schema.get("type") == "array":
        why = _why_vague(doc, schema.get("items"))
        return f"array of {why}" if why else None
    if schema.get("type", "object") == "object" and not schema.get("properties"):
        values = schema.get("additionalProperties", True)
        if values is True or values == {}:
            return "bare object"
    if not schema.get("type") and not schema.get("properties") and "enum" not in schema and "const" not in schema:
        return "schema without a type"
    return None


def vague_json_successes(doc: dict[str, Any]) -> dict[str, str]:
    """``"METHOD /path status"`` -> why its JSON answer is vague, for every operation of ``doc``."""
    found: dict[str, str] = {}
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            for status, response in op.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                for media, content in (response.get("content") or {}).items():
                    is_json = media == "application/json" or media.endswith("+json")
                    if is_json and (why := _why_vague(doc, content.get("schema"))):
                        found[f"{method.upper()} {path} {status}"] = why
    return found


class _Precise(BaseModel):
    name: str


def test_the_walk_finds_vague_answers() -> None:
    app = FastAPI()

    @app.get("/dict")
    def as_dict() -> dict[str, Any]:
        return {}

    @app.get("/list")
    def as_list() -> list[dict[str, Any]]:
        return []

    @app.get("/raw")
    def raw() -> JSONResponse:
        return JSONResponse({})

    @app.get("/empty", responses={200: {"content": {"application/json": {"schema": {}}}}})
    def empty() -> JSONResponse:
        return JSONResponse({})

    @app.get("/maybe")
    def maybe() -> dict[str, Any] | None:
        return None

    @app.get("/model")
    def model() -> _Precise:
        return _Precise(name="x")

    @app.get("/map")
    def typed_map() -> dict[str, str]:
        return {}

    @app.delete("/gone", status_code=204)
    def gone() -> None:
        return None

    found = vague_json_successes(app.openapi())
    assert set(found) == {"GET /dict 200", "GET /list 200", "GET /raw 200", "GET /empty 200", "GET /maybe 200"}, found
    assert found["GET /list 200"] == "array of bare object"


def test_every_json_success_answer_has_a_precise_schema(services: Services) -> None:
    doc = create_app(services.settings, services).openapi()
    found = vague_json_successes(doc)
    unexplained = {k: v for k, v in found.items() if k not in ALLOWED_VAGUE}
    assert not unexplained, "JSON answers without a precise schema:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(unexplained.items())
    )
    assert not set(ALLOWED_VAGUE) - set(found), "allow-list entries that are precise now: remove them"
    assert len(doc["paths"]) > 50  # the walk saw the whole document


def _plain(value: Any) -> Any:
    """What the routes answered before they had response models: the services' dicts as JSON."""
    return json.loads(json.dumps(value))


def _person(services: Services, username: str) -> tuple[str, dict[str, str]]:
    with services.db.session() as s:
        account = services.identity.accounts.by_username(s, username)
        assert account is not None
    token = services.identity.access_tokens.issue(
        alg="RS256", client_id="test-rp", subject=account.id, kind="user", scopes=["openid", "profile"], ttl=600
    ).token
    return account.id, {"Authorization": f"Bearer {token}"}


def test_models_pass_the_answers_through_unchanged(client: TestClient, services: Services) -> None:
    # identity: the account's own view (verifications with timestamps, masked person) and levels
    citizen, hdr = _person(services, CITIZEN_USER)
    me = client.get("/identity/v1/me", headers=hdr)
    assert me.status_code == 200, me.text
    with services.db.session() as s:
        assert me.json() == _plain(services.identity.me(s, citizen))
    assert me.json()["verifications"][0]["verified_at"].endswith("+00:00")  # as isoformat() wrote it
    assert DEMO_CITIZEN.id_number not in me.text and DEMO_CITIZEN.phone not in me.text

    # clients: the secret where it is shown (rotation; creation of a secret-based client), else absent
    mgr = {"Authorization": f"Bearer {manager_token(client, services)}"}
    body = {"client_id": "passthrough-m2m", "client_name": "机器客户端", "scope": "seal:sign"}
    created = client.post("/identity/v1/clients", json=body, headers=mgr)
    assert created.status_code == 201, created.text
    with services.db.session() as s:
        stored = _plain(services.identity.clients.get(s, "passthrough-m2m").public_dict())
    assert created.json() == {**stored, "client_secret": created.json()["client_secret"]}
    public = {
        "client_id": "passthrough-spa",
        "client_name": "公共客户端",
        "client_type": "public",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "scope": "openid",
        "redirect_uris": ["https://spa.example.gov.cn/cb"],
    }
    created = client.post("/identity/v1/clients", json=public, headers=mgr)
    assert created.status_code == 201, created.text
    assert "client_secret" not in created.json()
    with services.db.session() as s:
        assert created.json() == _plain(services.identity.clients.get(s, "passthrough-spa").public_dict())
    got = client.get("/identity/v1/clients/passthrough-m2m", headers=mgr)
    assert got.json() == stored and "client_secret" not in got.json()
    rotated = client.post("/identity/v1/clients/passthrough-m2m/secret", headers=mgr).json()
    assert rotated.pop("client_secret") and rotated == stored
    listed = client.get("/identity/v1/clients", headers=mgr).json()
    with services.db.session() as s:
        assert listed == [_plain(c.public_dict()) for c in services.identity.clients.list(s)]

    # licence types: optional members of fields and placements stay absent, 36 stays 36
    with services.db.session() as s:
        types = registry.list_types(s, include_inactive=True)
    assert len(types) >= 3
    for info in types:
        got = client.get(f"/license/v1/types/{info.type_code}").json()
        want = {"version": info.version, "active": info.active, "builtin": info.builtin}
        assert got == _plain({**want, **info.license_type.to_dict()}), info.type_code
    listed_types = {t["type_code"]: t for t in client.get("/license/v1/types").json()}
    for info in types:
        fields = [f.to_dict() for f in info.license_type.fields]
        assert listed_types[info.type_code]["fields"] == _plain(fields), info.type_code

    # shares: the list and the revocation answer what the creation answered (less token and link)
    wallet = client.get("/license/v1/wallet", headers=hdr).json()["items"]
    made = client.post(
        "/license/v1/shares", json={"licence_id": wallet[0]["id"], "recipient": "中国银行天津分行"}, headers=hdr
    )
    assert made.status_code == 201, made.text
    share = {k: v for k, v in made.json().items() if k not in ("token", "link")}
    assert client.get("/license/v1/shares", headers=hdr).json() == [share]
    revoked = client.post(f"/license/v1/shares/{share['id']}/revoke", headers=hdr).json()
    licenses = services.licenses
    assert licenses is not None
    with services.db.session() as s:
        holder = licenses.holder_for_user(s, citizen, None)
        assert holder is not None
        assert revoked == _plain(Shares(licenses).list(s, holder)[0].as_dict())
    assert revoked["state"] == "revoked" and revoked["created_at"] == share["created_at"]

    # operations
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok", "pki": "ok"}}
