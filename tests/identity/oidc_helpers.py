"""Drive our OIDC provider through a TestClient: authorization request, login form, code, tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from api.container import Services
from api.demo import CITIZEN_PASSWORD, CITIZEN_USER, RP_CLIENT, RP_REDIRECT
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType, SubjectType
from tests.identity.oauth_helpers import basic
from tests.identity.web_helpers import form, submit


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Flow:
    client_id: str = RP_CLIENT
    redirect_uri: str = RP_REDIRECT
    scope: str = "openid profile"
    secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    verifier: str = ""
    challenge: str = ""
    state: str = ""
    nonce: str = ""

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce()
        self.state = secrets.token_urlsafe(8)
        self.nonce = secrets.token_urlsafe(8)

    def params(self, **overrides: str | None) -> dict[str, str]:
        p: dict[str, str | None] = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **self.extra,
            **overrides,
        }
        return {k: v for k, v in p.items() if v is not None}

    def auth_headers(self) -> dict[str, str]:
        return basic(self.client_id, self.secret) if self.secret else {}

    def token_form(self, the_code: str, **overrides: str | None) -> dict[str, str]:
        data: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": the_code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        if not self.secret:
            data["client_id"] = self.client_id
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}


def callback_params(location: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def authorize(
    client: TestClient,
    flow: Flow,
    username: str | None = CITIZEN_USER,
    password: str = CITIZEN_PASSWORD,
    **overrides: str | None,
) -> Any:
    """Follow the authorization request through our login form; returns the final redirect response
    (to the client's redirect URI) or the last page shown."""
    resp = client.get("/oauth2/authorize", params=flow.params(**overrides), follow_redirects=False)
    for _ in range(10):
        if resp.status_code in (302, 303):
            location = resp.headers["location"]
            if location.startswith(flow.redirect_uri.split("?")[0]) and not location.startswith("/"):
                return resp
            resp = client.get(location, follow_redirects=False)
            continue
        if resp.status_code == 200 and 'action="/login"' in resp.text and username is not None:
            resp = submit(client, resp.text, "/login", username=username, password=password)
            continue
        return resp
    raise AssertionError("too many redirects")


def code_for(client: TestClient, flow: Flow, **kw: Any) -> str:
    resp = authorize(client, flow, **kw)
    assert resp.status_code == 302, resp.text[:1000]
    params = callback_params(resp.headers["location"])
    assert "code" in params, params
    assert params["state"] == flow.state and params["iss"]
    return params["code"]


def tokens(client: TestClient, flow: Flow, **kw: Any) -> dict[str, Any]:
    code = code_for(client, flow, **kw)
    resp = client.post("/oauth2/token", data=flow.token_form(code), headers=flow.auth_headers())
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def rp_client(
    services: Services,
    client_id: str,
    *,
    scopes: str = "openid profile",
    alg: str = "RS256",
    subject: SubjectType = SubjectType.PUBLIC,
    redirect: str = "https://rp.example.gov.cn/cb",
    sector: str | None = None,
    confidential: bool = True,
) -> Flow:
    """Register a relying party; returns a Flow for it (with its secret when confidential)."""
    with services.db.session() as s:
        _, secret = services.identity.clients.create(
            s,
            ClientSpec(
                client_id=client_id,
                name=client_id,
                client_type=ClientType.CONFIDENTIAL if confidential else ClientType.PUBLIC,
                auth_method=AuthMethod.CLIENT_SECRET_BASIC if confidential else AuthMethod.NONE,
                grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
                scopes=frozenset(scopes.split()),
                redirect_uris=(redirect,),
                post_logout_redirect_uris=(redirect + "/bye",),
                token_alg=alg,
                subject_type=subject,
                sector_identifier=sector,
            ),
            actor="test",
        )
    return Flow(client_id=client_id, redirect_uri=redirect, scope="openid profile", secret=secret)


def login_page_fields(page: str) -> dict[str, str]:
    fields: dict[str, str] = form(page, "/login")["fields"]
    return fields
