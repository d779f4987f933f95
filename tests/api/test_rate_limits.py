"""Rate limits on the service's own endpoints: login pages (incl. step-up) and ``/oauth2/token``,
``/seal/v1/sign``, ``/verify/v1/*`` (and the verification pages), per IP and per client, with
``Retry-After``; in process and shared through Redis (127.0.0.1:6379) by two app instances standing
for two workers. The limits are the named groups of ``api.ratelimit`` (``login``, ``token``,
``seal``, ``verify``), made small here through the ``rate_limits`` setting, as an operator would.
Tokens are real (client_credentials, authorization code through the login form)."""

from __future__ import annotations

import copy
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Services
from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
from api.ratelimit import LOGIN_LIMIT, SEAL_LIMIT, TOKEN_LIMIT, VERIFY_LIMIT
from core.ratelimit import MemoryLimiter, RedisLimiter
from tests.identity.oauth_helpers import basic, machine_client
from tests.identity.oidc_helpers import RP_CLIENT, Flow, login_page_fields

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def app_for(services: Services) -> Iterator[Any]:
    made: list[TestClient] = []

    def make(limits: dict[str, str], limiter: Any = None) -> TestClient:
        settings = services.settings.model_copy(update={"rate_limits": limits})
        svc = copy.copy(services)
        svc.settings = settings
        svc.limiter = limiter or MemoryLimiter()
        c = TestClient(create_app(settings, svc))
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


def _limited(resp: Any, name: str, scope: str) -> None:
    assert resp.status_code == 429, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["retry-after"]) >= 1
    body = resp.json()
    assert body["type"] == "urn:ywt:problem:rate-limited"
    assert body["limit"] == name and body["scope"] == scope, body


def _client_credentials(c: TestClient, client_id: str, secret: str, *, post: bool = False) -> Any:
    if post:
        data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return c.post("/oauth2/token", data=data)
    return c.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))


def test_defaults_are_set_for_every_group() -> None:
    """Each group limits per IP and per client out of the box (overridable, never absent)."""
    for limit in (LOGIN_LIMIT, TOKEN_LIMIT, SEAL_LIMIT, VERIFY_LIMIT):
        assert limit.default.per_ip is not None and limit.default.per_client is not None, limit
    assert LOGIN_LIMIT.default.per_ip.limit <= 60  # guessing passwords from one address stays slow


def test_token_endpoint_per_client_and_per_ip(app_for: Any, services: Services) -> None:
    other_secret = machine_client(services, "rl-other", scopes=frozenset({"seal:sign"}))
    c = app_for({"token": "client=2/60"})
    for _ in range(2):
        assert _client_credentials(c, APPROVAL_CLIENT, APPROVAL_SECRET).status_code == 200
    _limited(_client_credentials(c, APPROVAL_CLIENT, APPROVAL_SECRET), "token", "client")
    # the same client named in the form body (client_secret_post) counts against the same budget
    _limited(_client_credentials(c, APPROVAL_CLIENT, APPROVAL_SECRET, post=True), "token", "client")
    # a wrong secret counts too (the limit protects the client's credentials from guessing)
    _limited(_client_credentials(c, APPROVAL_CLIENT, "wrong"), "token", "client")
    # another client has its own budget
    assert _client_credentials(c, "rl-other", other_secret).status_code == 200

    by_ip = app_for({"token": "ip=3/60"})
    assert _client_credentials(by_ip, APPROVAL_CLIENT, APPROVAL_SECRET).status_code == 200
    assert _client_credentials(by_ip, "rl-other", other_secret).status_code == 200
    assert _client_credentials(by_ip, "rl-other", "wrong").status_code == 401
    _limited(_client_credentials(by_ip, "rl-other", other_secret), "token", "ip")


def _login_page(c: TestClient, next_: str | None = None) -> dict[str, str]:
    page = c.get("/login", params={"next": next_} if next_ else None)
    assert page.status_code == 200
    return login_page_fields(page.text)


def _authorize_next(c: TestClient, client_id: str = RP_CLIENT, redirect: str | None = None) -> str:
    flow = Flow(client_id=client_id, redirect_uri=redirect) if redirect else Flow(client_id=client_id)
    resp = c.get("/oauth2/authorize", params=flow.params(), follow_redirects=False)
    assert resp.status_code in (302, 303), resp.text
    location = resp.headers["location"]
    assert location.startswith("/login?")
    nxt = dict(urllib.parse.parse_qsl(location.split("?", 1)[1]))["next"]
    assert nxt.startswith("/oauth2/authorize/resume?")
    return nxt


WRONG = "wrong-password-1"


def _login(c: TestClient, next_: str | None = None) -> Any:
    fields = _login_page(c, next_)
    fields.update({"username": "citizen", "password": WRONG})
    return c.post("/login", data=fields, follow_redirects=False)


def test_login_pages_per_ip(app_for: Any) -> None:
    c = app_for({"login": "ip=3/60"})
    for _ in range(3):
        assert _login(c).status_code == 401  # the login page's own answer: wrong password
    _limited(_login(c), "login", "ip")
    # every login page that checks a secret shares the group: SMS code, TOTP, registration, step-up
    for path in ("/login/sms/send", "/login/sms", "/login/totp", "/register", "/login/stepup/send"):
        _limited(c.post(path, data={"x": "y"}), "login", "ip")
    # reading the form is not limited
    assert c.get("/login").status_code == 200


def test_login_pages_per_client(app_for: Any, services: Services) -> None:
    """The relying party a login continues an authorization for has its own budget."""
    from tests.identity.oidc_helpers import rp_client

    rp_client(services, "rl-rp")
    c = app_for({"login": "client=2/60"})
    for _ in range(2):
        assert _login(c, _authorize_next(c)).status_code == 401
    _limited(_login(c, _authorize_next(c)), "login", "client")
    # a login for another relying party, or a direct one, is not counted against demo-rp
    assert _login(c, _authorize_next(c, "rl-rp", "https://rp.example.gov.cn/cb")).status_code == 401
    assert _login(c).status_code == 401


def test_seal_sign_per_client_and_per_ip(app_for: Any, services: Services) -> None:
    """Counted once the access token names the client (before the upload is even looked at)."""
    other_secret = machine_client(services, "rl-sealer", scopes=frozenset({"seal:sign"}))
    c = app_for({"seal": "client=2/60"})
    approval = _client_credentials(c, APPROVAL_CLIENT, APPROVAL_SECRET).json()["access_token"]
    other = _client_credentials(c, "rl-sealer", other_secret).json()["access_token"]

    def sign(token: str) -> Any:
        return c.post("/seal/v1/sign", headers={"Authorization": f"Bearer {token}"}, data={"seal_id": "x"})

    for _ in range(2):
        assert sign(approval).status_code == 422  # no file: refused after the count
    _limited(sign(approval), "seal", "client")
    assert sign(other).status_code == 422

    by_ip = app_for({"seal": "ip=2/60"})
    for _ in range(2):
        assert by_ip.post("/seal/v1/sign").status_code == 401
    _limited(by_ip.post("/seal/v1/sign"), "seal", "ip")


def test_verify_api_and_pages_per_ip(app_for: Any) -> None:
    c = app_for({"verify": "ip=4/60"})
    assert c.post("/verify/v1/qr", json={"payload": "not-a-licence"}).status_code < 500
    assert c.post("/verify/v1/certificate", content=b"junk").status_code < 500
    assert c.get("/v/not-a-licence").status_code < 500
    assert c.post("/verify", data={"qr_text": "x"}).status_code < 500
    _limited(c.post("/verify/v1/pdf", files={"file": ("a.pdf", b"%PDF-1.7\n")}), "verify", "ip")
    _limited(c.get("/v/not-a-licence"), "verify", "ip")
    assert c.get("/verify").status_code == 200  # the upload form itself
    assert c.get("/healthz").status_code == 200


def test_verify_per_client_when_the_client_names_itself(app_for: Any) -> None:
    c = app_for({"verify": "client=2/60"})
    for _ in range(2):
        assert c.post("/verify/v1/qr?client_id=bank-1", json={"payload": "x"}).status_code < 500
    _limited(c.post("/verify/v1/qr?client_id=bank-1", json={"payload": "x"}), "verify", "client")
    assert c.post("/verify/v1/qr?client_id=bank-2", json={"payload": "x"}).status_code < 500
    assert c.post("/verify/v1/qr", json={"payload": "x"}).status_code < 500  # anonymous: per IP only


def test_limits_are_shared_by_workers_through_redis(app_for: Any) -> None:
    prefix = f"ywt-test:{uuid.uuid4().hex}:"
    limits = {"token": "client=3/60", "login": "ip=2/60", "verify": "ip=2/60"}
    w1 = app_for(limits, RedisLimiter(REDIS, prefix=prefix))
    w2 = app_for(limits, RedisLimiter(REDIS, prefix=prefix))
    assert _client_credentials(w1, APPROVAL_CLIENT, APPROVAL_SECRET).status_code == 200
    assert _client_credentials(w2, APPROVAL_CLIENT, APPROVAL_SECRET).status_code == 200
    assert _client_credentials(w1, APPROVAL_CLIENT, APPROVAL_SECRET).status_code == 200
    _limited(_client_credentials(w2, APPROVAL_CLIENT, APPROVAL_SECRET), "token", "client")
    assert _login(w1).status_code == 401
    assert _login(w2).status_code == 401
    _limited(_login(w1), "login", "ip")
    assert w2.post("/verify/v1/qr", json={"payload": "x"}).status_code < 500
    assert w1.post("/verify/v1/qr", json={"payload": "x"}).status_code < 500
    _limited(w2.post("/verify/v1/qr", json={"payload": "x"}), "verify", "ip")
    import redis

    keys = [k.decode() for k in redis.Redis.from_url(REDIS).keys(prefix + "*")]
    assert keys and all("127.0.0.1" not in k and "testclient" not in k for k in keys)  # hashed addresses
    redis.Redis.from_url(REDIS).delete(*keys)
