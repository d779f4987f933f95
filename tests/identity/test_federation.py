"""Mutual recognition: log in with the national IdP (node ``oidc-provider`` stand-in, a certified
OpenID Provider we did not write), link by verified ID number, map the level, open a session.

Bad input tried: ``state`` that does not match the browser's ticket, a missing ticket, ``iss``
naming another issuer, an IdP error answer, ID tokens with another issuer / audience / nonce,
expired, ``alg: none``, HS256 signed with the IdP's public key, an unknown ``kid`` (JWKS fetched
again once), a tampered payload, several audiences without ``azp``; an unverified or malformed ID
number; a linked national subject that later asserts another person; a local person with the same
name but another ID number (never linked by name); the IdP unreachable (503, no session).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import RSAKey
from sqlmodel import select

from api.app import create_app
from api.container import Services, build_services, initialise
from core import clock
from identity.federation import Federation, FederationRefused, FederationUnavailable, NationalIdpConfig
from identity.models import AccountRecord, FederatedLink
from identity.sources.demo import DEMO_CITIZEN
from tests.conftest import Template, clone_installation, make_settings
from tests.nodepeers import national_idp as start_national_idp

OUR_BASE = "http://127.0.0.1:8000"
CALLBACK = f"{OUR_BASE}/login/national/callback"
UNKNOWN_ID = "110101199003070011"  # valid GB 11643 number, not in the local registry


@pytest.fixture
def national(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The national IdP stand-in with two citizens: 张三 (known locally) and 赵六 (not)."""
    config = {
        "client": {
            "client_id": "tianjin-ywt",
            "client_secret": "national-secret-for-tests-0123456789",
            "redirect_uris": [CALLBACK],
        },
        "accounts": [
            {
                "username": "zhangsan",
                "password": "pw-zhangsan-1",
                "sub": "gj-0001",
                "name": DEMO_CITIZEN.name,
                "id_number": DEMO_CITIZEN.id_number,
            },
            {
                "username": "zhaoliu",
                "password": "pw-zhaoliu-1",
                "sub": "gj-0002",
                "name": "赵六",
                "id_number": UNKNOWN_ID,
            },
        ],
    }
    with start_national_idp(config, tmp_path) as issuer:
        yield {"issuer": issuer, "config": config}


@pytest.fixture
def fed(pki_template: Template, tmp_path: Path, national: dict[str, Any]) -> Iterator[tuple[Services, TestClient]]:
    home = tmp_path / "home"
    url = clone_installation(pki_template, home)
    client = national["config"]["client"]
    settings = make_settings(
        home,
        url,
        national_idp={
            "issuer": national["issuer"],
            "metadata_url": national["issuer"] + "/.well-known/openid-configuration",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "levels": {"urn:gjzwfw:loa:password": "L2"},
        },
    )
    services = build_services(settings)
    initialise(services, demo=True)
    with TestClient(create_app(settings, services)) as c:
        yield services, c
    services.close()


def national_login(client: TestClient, username: str, password: str) -> httpx.Response:
    """Our /login/national -> the IdP's pages (a plain HTTP browser) -> our callback."""
    start = client.get("/login/national?next=/account", follow_redirects=False)
    assert start.status_code == 303, start.text
    url = start.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        for _ in range(15):
            if url.startswith(CALLBACK):
                parts = urllib.parse.urlsplit(url)
                return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
            resp = browser.get(url)
            if resp.status_code in (302, 303):
                url = urllib.parse.urljoin(url, resp.headers["location"])
                continue
            assert resp.status_code == 200, resp.text[:500]
            csrf = resp.text.split('name="csrf" value="')[1].split('"')[0]
            action = resp.text.split('action="')[1].split('"')[0]
            posted = browser.post(
                urllib.parse.urljoin(url, action), data={"csrf": csrf, "username": username, "password": password}
            )
            assert posted.status_code == 303, posted.text[:500]
            url = urllib.parse.urljoin(url, posted.headers["location"])
    raise AssertionError("never reached our callback")


def _account(services: Services, account_id: str) -> AccountRecord:
    with services.db.session() as s:
        return services.identity.accounts.get(s, account_id)


@pytest.mark.slow
def test_national_login_links_the_local_citizen_by_verified_id_number(fed: tuple[Services, TestClient]) -> None:
    services, client = fed
    assert "国家政务服务平台" in client.get("/login").text
    resp = national_login(client, "zhangsan", "pw-zhangsan-1")
    assert resp.status_code == 303 and resp.headers["location"] == "/account", resp.text[:500]
    page = client.get("/account").text
    assert "citizen" in page and "已关联" in page and DEMO_CITIZEN.id_number not in page
    with services.db.session() as s:
        link = s.exec(select(FederatedLink)).one()
        account = services.identity.accounts.by_username(s, "citizen")
        assert account is not None and link.account_id == account.id and link.subject == "gj-0001"
        methods = [(v.level.value, v.method) for v in services.identity.registry.verifications(s, account.id)]
    assert ("L2", "national_idp") not in methods  # the account already was L2: nothing new recorded
    # a local session with amr fed: our own OIDC clients see the person at L2
    from tests.identity.oidc_helpers import Flow, tokens

    body = tokens(client, Flow(), username=None)
    from tests.identity.oauth_helpers import jwt_parts

    claims = jwt_parts(body["id_token"])[1]
    assert claims["amr"] == ["fed"] and claims["acr"] == "L2" and claims["name"] == DEMO_CITIZEN.name
    # second time: by the link
    client.cookies.clear()
    assert national_login(client, "zhangsan", "pw-zhangsan-1").status_code == 303
    with services.db.session() as s:
        assert len(s.exec(select(FederatedLink)).all()) == 1


@pytest.mark.slow
def test_unknown_person_is_provisioned_at_the_mapped_level(fed: tuple[Services, TestClient]) -> None:
    services, client = fed
    resp = national_login(client, "zhaoliu", "pw-zhaoliu-1")
    assert resp.status_code == 303
    me = client.get("/account").text
    assert "赵六" in me and "1101**********0011" in me and UNKNOWN_ID not in me
    with services.db.session() as s:
        link = s.get(FederatedLink, (services.settings.national_idp["issuer"], "gj-0002"))
        assert link is not None
        account = services.identity.accounts.get(s, link.account_id)
        assert account.username.startswith("gj-") and account.password_hash is None
        verifications = services.identity.registry.verifications(s, account.id)
    assert [(v.level.value, v.method) for v in verifications] == [("L2", "national_idp")]


@pytest.mark.slow
def test_wrong_state_and_missing_ticket(fed: tuple[Services, TestClient]) -> None:
    _, client = fed
    start = client.get("/login/national", follow_redirects=False)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["location"]).query))["state"]
    bad = client.get("/login/national/callback", params={"state": state + "x", "code": "c"}, follow_redirects=False)
    assert bad.status_code == 401 and "ywt_session" not in bad.headers.get("set-cookie", "")
    client.cookies.clear()
    missing = client.get("/login/national/callback", params={"state": state, "code": "c"}, follow_redirects=False)
    assert missing.status_code == 400


def test_national_login_is_404_when_not_configured(client: TestClient) -> None:
    assert client.get("/login/national", follow_redirects=False).status_code == 404
    assert "国家政务服务平台账户登录" not in client.get("/login").text


# -- the checks, against a mock IdP (crafted tokens) --------------------------------------------------------


ISSUER = "https://idp.gjzwfw.example.gov.cn"


class MockIdp:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
        self.other = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256", "use": "sig"})
        self.published = [self.key]
        self.jwks_fetches = 0
        self.down = False
        self.id_token = ""
        self.userinfo: dict[str, Any] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down")
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "jwks_uri": ISSUER + "/jwks",
                    "authorization_endpoint": ISSUER + "/auth",
                    "token_endpoint": ISSUER + "/token",
                    "userinfo_endpoint": ISSUER + "/me",
                },
            )
        if path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.published]})
        if path == "/token":
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer", "id_token": self.id_token})
        if path == "/me":
            return httpx.Response(200, json=self.userinfo)
        return httpx.Response(404)

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: RSAKey | None = None,
        alg: str = "RS256",
        header: dict[str, Any] | None = None,
    ) -> str:
        h = {"alg": alg, "kid": (key or self.key).kid, **(header or {})}
        return jws.serialize_compact(h, json.dumps(claims).encode(), key or self.key, algorithms=[alg])


@pytest.fixture
def mock(services: Services) -> tuple[MockIdp, Federation]:
    idp = MockIdp()
    config = NationalIdpConfig(
        issuer=ISSUER,
        client_id="ywt",
        client_secret="s" * 20,
        metadata_url=ISSUER + "/.well-known/openid-configuration",
    )
    identity = services.identity
    federation = Federation(
        config,
        redirect_uri=CALLBACK,
        tickets=identity.tickets,
        accounts=identity.accounts,
        registry=identity.registry,
        sessions=identity.sessions,
        journal=identity.journal,
        session_factory=services.db.session,
        http=lambda: httpx.Client(transport=httpx.MockTransport(idp.handler)),
    )
    return idp, federation


def _claims(the_nonce: str, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    c = {"iss": ISSUER, "sub": "gj-9", "aud": "ywt", "iat": now, "exp": now + 300, "nonce": the_nonce}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def _callback(federation: Federation) -> tuple[dict[str, str], str, str]:
    url, ticket = federation.start("/account")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert q["code_challenge_method"] == "S256" and q["redirect_uri"] == CALLBACK
    data = federation._tickets.open("federation", ticket)
    return {"state": q["state"], "code": "c", "iss": ISSUER}, ticket, data["n"]


def test_mock_idp_happy_path(services: Services, mock: tuple[MockIdp, Federation]) -> None:
    idp, federation = mock
    params, ticket, nonce = _callback(federation)
    idp.id_token = idp.sign(_claims(nonce, acr="urn:x"))
    idp.userinfo = {
        "sub": "gj-9",
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "id_number_verified": True,
    }
    done = federation.finish(params, ticket)
    assert _account(services, done.account_id).username == "citizen" and not done.created


REFUSALS: dict[str, Any] = {
    "wrong-iss": (lambda idp, n: idp.sign(_claims(n, iss="https://evil.example")), "wrong_issuer"),
    "wrong-aud": (lambda idp, n: idp.sign(_claims(n, aud="someone-else")), "wrong_audience"),
    "aud-list-no-azp": (lambda idp, n: idp.sign(_claims(n, aud=["ywt", "other"])), "wrong_audience"),
    "nonce": (lambda idp, n: idp.sign(_claims("other-nonce")), "nonce_mismatch"),
    "no-nonce": (lambda idp, n: idp.sign(_claims(n, nonce=None)), "nonce_mismatch"),
    "expired": (lambda idp, n: idp.sign(_claims(n, exp=int(clock.now().timestamp()) - 600)), "expired"),
    "no-iat": (lambda idp, n: idp.sign(_claims(n, iat=None)), "missing_claim"),
    "alg-none": (lambda idp, n: _none(_claims(n)), "alg_not_allowed"),
    "hs256-with-public-key": (lambda idp, n: _hs256(idp, _claims(n)), "alg_not_allowed"),
    "unknown-kid": (lambda idp, n: idp.sign(_claims(n), key=idp.other), "unknown_key"),
    "tampered": (lambda idp, n: _tamper(idp.sign(_claims(n))), "bad_signature"),
    "embedded-jwk": (
        lambda idp, n: idp.sign(_claims(n), header={"jwk": idp.other.as_dict(private=False)}),
        "header_not_allowed",
    ),
}


def _none(claims: dict[str, Any]) -> str:
    from tests.identity.oauth_helpers import b64e

    return b64e(b'{"alg":"none"}') + "." + b64e(json.dumps(claims).encode()) + "."


def _hs256(idp: MockIdp, claims: dict[str, Any]) -> str:
    import hashlib
    import hmac

    from tests.identity.oauth_helpers import b64e

    signing_input = b64e(b'{"alg":"HS256","kid":"k1"}') + "." + b64e(json.dumps(claims).encode())
    mac = hmac.new(idp.key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64e(mac)


def _tamper(token: str) -> str:
    from tests.identity.oauth_helpers import b64d, b64e

    h, p, s = token.split(".")
    claims = json.loads(b64d(p))
    claims["sub"] = "gj-other"
    return ".".join([h, b64e(json.dumps(claims).encode()), s])


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_mock_idp_id_token_refusals(services: Services, mock: tuple[MockIdp, Federation], case: str) -> None:
    idp, federation = mock
    make, reason = REFUSALS[case]
    params, ticket, nonce = _callback(federation)
    idp.id_token = make(idp, nonce)
    idp.userinfo = {
        "sub": "gj-9",
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "id_number_verified": True,
    }
    with pytest.raises(FederationRefused) as info:
        federation.finish(params, ticket)
    assert info.value.reason == reason
    with services.db.session() as s:
        assert s.exec(select(FederatedLink)).first() is None
    if case == "unknown-kid":
        assert idp.jwks_fetches == 2  # fetched once more for the unknown kid, then refused


@pytest.mark.parametrize(
    ("userinfo", "reason"),
    [
        (
            {"sub": "gj-9", "name": "张三", "id_number": DEMO_CITIZEN.id_number, "id_number_verified": False},
            "id_number_not_verified",
        ),
        ({"sub": "gj-9", "name": "张三", "id_number": DEMO_CITIZEN.id_number}, "id_number_not_verified"),
        (
            {"sub": "gj-9", "name": "张三", "id_number": "120101199001011230", "id_number_verified": True},
            "bad_id_number",
        ),
        (
            {"sub": "gj-other", "name": "张三", "id_number": DEMO_CITIZEN.id_number, "id_number_verified": True},
            "sub_mismatch",
        ),
    ],
    ids=["unverified", "verified-missing", "bad-check-digit", "userinfo-other-sub"],
)
def test_mock_idp_person_refusals(
    services: Services, mock: tuple[MockIdp, Federation], userinfo: dict[str, Any], reason: str
) -> None:
    idp, federation = mock
    params, ticket, nonce = _callback(federation)
    idp.id_token = idp.sign(_claims(nonce))
    idp.userinfo = userinfo
    with pytest.raises(FederationRefused) as info:
        federation.finish(params, ticket)
    assert info.value.reason == reason


def test_never_linked_by_name_and_link_conflict(services: Services, mock: tuple[MockIdp, Federation]) -> None:
    idp, federation = mock
    params, ticket, nonce = _callback(federation)
    idp.id_token = idp.sign(_claims(nonce))
    # same name as the local citizen 张三, another (valid) ID number: a new account, not the citizen's
    idp.userinfo = {"sub": "gj-9", "name": DEMO_CITIZEN.name, "id_number": UNKNOWN_ID, "id_number_verified": True}
    done = federation.finish(params, ticket)
    assert done.created and _account(services, done.account_id).username != "citizen"
    # later the same national subject asserts the citizen's ID number: refused
    params, ticket, nonce = _callback(federation)
    idp.id_token = idp.sign(_claims(nonce))
    idp.userinfo = {
        "sub": "gj-9",
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "id_number_verified": True,
    }
    with pytest.raises(FederationRefused) as info:
        federation.finish(params, ticket)
    assert info.value.reason == "link_conflict"


def test_mock_idp_callback_checks_and_outage(services: Services, mock: tuple[MockIdp, Federation]) -> None:
    idp, federation = mock
    params, ticket, _ = _callback(federation)
    with pytest.raises(FederationRefused) as info:
        federation.finish({**params, "state": "x"}, ticket)
    assert info.value.reason == "state_mismatch"
    with pytest.raises(FederationRefused) as info:
        federation.finish({**params, "iss": "https://evil.example"}, ticket)
    assert info.value.reason == "wrong_issuer"
    with pytest.raises(FederationRefused) as info:
        federation.finish({"state": params["state"], "error": "access_denied"}, ticket)
    assert info.value.reason == "idp_error"
    idp.down = True
    fresh = Federation(
        federation.config,
        redirect_uri=CALLBACK,
        tickets=services.identity.tickets,
        accounts=services.identity.accounts,
        registry=services.identity.registry,
        sessions=services.identity.sessions,
        journal=services.journal,
        session_factory=services.db.session,
        http=lambda: httpx.Client(transport=httpx.MockTransport(idp.handler)),
    )
    with pytest.raises(FederationUnavailable):
        fresh.start("/account")
