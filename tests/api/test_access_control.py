"""Access control over every route of the app, generated from the app's routes.

Each route is either classified here (public, client, holder) or declares the operator roles it
checks (``api.auth.requires`` / ``RequireRoles``, read back with ``api.auth.route_access``); a new
route that is neither makes :func:`test_every_route_is_classified` fail, so it cannot be forgotten.
For every operator route, every role is tried with a real access token from our OIDC provider
(authorization code + PKCE through the login form, the ``roles`` scope): a role the route does not
admit gets a 403 problem, a role it admits gets past the check. Machine clients and people are
tried too. A sample of operator actions is then checked in the audit journal, read through the
auditor's API.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Access, route_access
from api.routes.console_pages import SECTIONS
from identity import operators
from identity.operators import Role
from tests.identity.oauth_helpers import client_token
from tests.identity.oidc_helpers import Flow, rp_client, tokens
from tests.identity.web_helpers import login

# Routes open to anyone, or authenticating by their own protocol (OAuth client authentication,
# login forms and sessions, share tokens, bearer tokens of any kind at userinfo).
PUBLIC = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # served to the monitoring network only by the deployment's nginx
    ("GET", "/pki/cas"),
    ("GET", "/pki/cas/{ca_id}/cert"),
    ("GET", "/pki/cas/{ca_id}/crl"),
    ("POST", "/pki/ocsp"),
    ("GET", "/pki/ocsp/{encoded:path}"),
    ("POST", "/pki/tsa"),
    ("GET", "/pki/trust-list"),
    ("GET", "/pki/trust-list.pem"),
    ("GET", "/license/v1/types"),
    ("GET", "/license/v1/types/{type_code}"),
    ("GET", "/license/v1/shared/{token}"),
    ("GET", "/license/v1/shared/{token}/pdf"),
    ("POST", "/seal/v1/ses/verify"),
    ("POST", "/verify/v1/pdf"),
    ("POST", "/verify/v1/certificate"),
    ("POST", "/verify/v1/ses"),
    ("POST", "/verify/v1/qr"),
    ("POST", "/verify/v1/token"),
    ("GET", "/verify"),
    ("POST", "/verify"),
    ("GET", "/v/seal/{seal_id}.png"),
    ("GET", "/v/{payload:path}"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth2/jwks"),
    ("POST", "/oauth2/token"),
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("GET", "/oauth2/authorize/resume"),
    ("GET", "/login/stepup"),
    ("POST", "/login/stepup/send"),
    ("POST", "/login/stepup"),
    ("POST", "/login/stepup/verify"),
    ("GET", "/oauth2/userinfo"),
    ("POST", "/oauth2/userinfo"),
    ("POST", "/oauth2/introspect"),
    ("POST", "/oauth2/revoke"),
    ("GET", "/oauth2/logout"),
    ("POST", "/oauth2/logout"),
    ("POST", "/oauth2/logout/confirm"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/totp"),
    ("GET", "/login/sms"),
    ("POST", "/login/sms/send"),
    ("POST", "/login/sms"),
    ("GET", "/login/national"),
    ("GET", "/login/national/callback"),
    ("GET", "/register"),
    ("POST", "/register"),
    ("POST", "/register/confirm"),
    ("GET", "/account"),
    ("POST", "/account/verify"),
    ("POST", "/account/totp/setup"),
    ("POST", "/account/totp/confirm"),
    ("POST", "/account/totp/disable"),
    ("GET", "/logout"),
    ("POST", "/logout"),
    ("GET", "/dev/outbox"),  # not mounted in production (tests/identity)
    ("POST", "/account/sessions/{sid}/end"),  # the logged-in person's own sessions
    ("GET", "/license/shared/{token}"),  # the share token is the credential (tests/portal)
    ("GET", "/license/shared/{token}/pdf"),
}

# Pages for the person logged in (session cookie): the wallet, acting for a company they are an
# authorised agent of, shares (tests/portal).
HOLDER_PAGES = {
    ("GET", "/license/wallet"),
    ("POST", "/license/wallet/act-as"),
    ("GET", "/license/wallet/{licence_id}"),
    ("GET", "/license/wallet/{licence_id}/pdf"),
    ("POST", "/license/wallet/{licence_id}/share"),
    ("POST", "/license/wallet/shares/{share_id}/revoke"),
}

# Machine clients by scope (the seal API of approval systems); any authenticated caller for
# material that is public in substance (the seal image and SES_Seal, also on /v/ pages).
CLIENT = {
    ("POST", "/seal/v1/sign"),
    ("GET", "/seal/v1/seals/{seal_id}/image"),
    ("GET", "/seal/v1/seals/{seal_id}/ses-seal"),
}

# A person with their own access token: their wallet, shares, identity records.
HOLDER = {
    ("GET", "/license/v1/wallet"),
    ("GET", "/license/v1/wallet/{licence_id}"),
    ("GET", "/license/v1/wallet/{licence_id}/pdf"),
    ("POST", "/license/v1/shares"),
    ("GET", "/license/v1/shares"),
    ("POST", "/license/v1/shares/{share_id}/revoke"),
    ("POST", "/identity/v1/persons"),
    ("GET", "/identity/v1/me"),
    ("POST", "/identity/v1/me/verifications"),
    ("POST", "/identity/v1/entities"),
    ("POST", "/identity/v1/entities/{uscc}/agents"),
    ("POST", "/identity/v1/entities/{uscc}/agents/{authorisation_id}/revoke"),
}

OPERATOR_PASSWORD = "access-control-pw-2024"
ALL_ROLES = tuple(Role)


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for r in iter_route_contexts(app.routes):
        if getattr(r, "dependant", None) is None:  # docs, static files: not API routes
            continue
        for method in sorted(r.methods or ()):
            if method != "HEAD":
                out.append((method, r.path, r))
    return out


def _operator_routes(app: Any) -> list[tuple[str, str, Access]]:
    return [(m, p, a) for m, p, r in _routes(app) if (a := route_access(r)) is not None]


def _concrete(path: str) -> str:
    """Path parameters filled with values that name nothing (the check comes before the lookup)."""
    return re.sub(r"\{[^}]+\}", "zz-none", path)


@pytest.fixture
def app(services: Any) -> Any:
    return create_app(services.settings, services)


def test_every_route_is_classified(app: Any) -> None:
    """A route is public, for clients, for holders, or declares the operator roles it checks."""
    routes = _routes(app)
    assert len(routes) > 90
    classified = PUBLIC | CLIENT | HOLDER | HOLDER_PAGES | {(m, p) for m, p, _ in _console_routes(app)}
    unclassified = [(m, p) for m, p, r in routes if (m, p) not in classified and route_access(r) is None]
    assert not unclassified, f"routes with neither a classification nor a role check: {unclassified}"
    both = [(m, p) for m, p, r in routes if (m, p) in classified and route_access(r) is not None]
    assert not both, f"routes classified as non-operator that check roles: {both}"
    known = {(m, p) for m, p, _ in routes}
    stale = classified - known
    assert not stale, f"classified routes that no longer exist: {stale}"
    # every role that exists is needed by some route (least privilege: no role without a purpose)
    used = set().union(*(a.roles for _, _, a in _operator_routes(app)))
    assert used == {r.value for r in ALL_ROLES} - {Role.ADMINISTRATOR.value}


def _console_routes(app: Any) -> list[tuple[str, str, str | None]]:
    """The operator console's pages (session login, not bearer tokens): each belongs to the section
    its path names, whose role ``console_pages.SECTIONS`` declares; the console home needs any
    operator role. A console route outside every section fails here."""
    out: list[tuple[str, str, str | None]] = []
    for method, path, _ in _routes(app):
        if path == "/console":
            out.append((method, path, None))
        elif path.startswith("/console/"):
            section = path.split("/")[2]
            assert section in SECTIONS, f"console route {method} {path} is in no section of console_pages.SECTIONS"
            out.append((method, path, section))
    return out


ROLE_DENIED = "您没有执行此操作的权限"


def test_console_pages_each_role_denied_what_it_does_not_hold(app: Any, services: Any) -> None:
    """Every console page and form, for anonymous, a citizen and an operator of each role logged in
    through the login form: the role check comes before CSRF and before any lookup."""
    routes = _console_routes(app)
    assert len(routes) >= 15
    with TestClient(app) as anon:
        for method, path, _ in routes:
            resp = anon.request(method, _concrete(path), follow_redirects=False)
            assert resp.status_code == 303 and "/login?next=" in resp.headers["location"], (method, path)
    from api.demo import CITIZEN_PASSWORD, CITIZEN_USER

    people: list[tuple[str, str, Role | None]] = [(CITIZEN_USER, CITIZEN_PASSWORD, None)]
    for role in ALL_ROLES:
        name = f"page-{role.value.replace('_', '-')}"
        with services.db.session() as s:
            operators.create_operator(s, services.journal, name, OPERATOR_PASSWORD, {role}, actor="test")
        people.append((name, OPERATOR_PASSWORD, role))
    denied = admitted = 0
    for user, password, role in people:
        with TestClient(app) as browser:
            assert login(browser, user, password).status_code == 303
            for method, path, section in routes:
                resp = browser.request(method, _concrete(path), follow_redirects=False)
                assert resp.status_code < 500, (user, method, path, resp.text[:300])
                needed = None if section is None else SECTIONS[section][0]
                ok = role is not None and (role == Role.ADMINISTRATOR or needed is None or role.value == needed)
                if ok:
                    assert ROLE_DENIED not in resp.text, (user, method, path)
                    if path == "/console" and role == Role.IDENTITY_OFFICER:  # no section: says so
                        assert "在控制台中没有页面" in resp.text and 'href="/console/' not in resp.text
                    admitted += 1
                else:
                    assert resp.status_code == 403 and ROLE_DENIED in resp.text, (user, method, path, resp.status_code)
                    denied += 1
    assert denied > admitted


class Tokens:
    """Real access tokens: one operator per role (login form + PKCE through a console client allowed
    the ``roles`` scope), the demo approval system (client_credentials), the demo citizen."""

    def __init__(self, services: Any, client: TestClient) -> None:
        self.services = services
        self.client = client
        self.console = rp_client(services, "ops-console", scopes="openid profile roles")
        self.cache: dict[str, str] = {}

    def operator(self, role: Role) -> str:
        name = f"op-{role.value.replace('_', '-')}"
        if name not in self.cache:
            with self.services.db.session() as s:
                operators.create_operator(s, self.services.journal, name, OPERATOR_PASSWORD, {role}, actor="test")
            self.cache[name] = self._login(name, OPERATOR_PASSWORD, operator=True)
        return self.cache[name]

    def _login(self, username: str, password: str, *, operator: bool = False) -> str:
        flow = Flow()
        if operator:
            flow = Flow(
                client_id="ops-console",
                redirect_uri="https://rp.example.gov.cn/cb",
                scope="openid roles",
                secret=self.console.secret or "",
            )
        with TestClient(self.client.app) as c:  # one browser per person
            return str(tokens(c, flow, username=username, password=password)["access_token"])

    def citizen(self) -> str:
        from api.demo import CITIZEN_PASSWORD, CITIZEN_USER

        if "citizen" not in self.cache:
            self.cache["citizen"] = self._login(CITIZEN_USER, CITIZEN_PASSWORD)
        return self.cache["citizen"]

    def approval_client(self) -> str:
        from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET

        if "approval" not in self.cache:
            self.cache["approval"] = client_token(self.client, APPROVAL_CLIENT, APPROVAL_SECRET)
        return self.cache["approval"]


def _call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(method, _concrete(path), **kwargs)


def _assert_denied(resp: Any, who: str, method: str, path: str) -> None:
    assert resp.status_code == 403, f"{who} on {method} {path}: {resp.status_code} {resp.text[:200]}"
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == "urn:ywt:problem:forbidden"
    assert body["required"], body  # an access check names what it wants; object-level refusals do not


def _assert_admitted(resp: Any, who: str, method: str, path: str) -> None:
    """Past the access check: what follows may still refuse this object (a seal not granted to this
    client: 403 without ``required``), or find nothing, or reject the empty body."""
    assert resp.status_code != 401, f"{who} on {method} {path}: {resp.text[:200]}"
    if resp.status_code == 403:
        assert "required" not in resp.json(), f"{who} on {method} {path}: {resp.text[:200]}"
    assert resp.status_code < 500, f"{who} on {method} {path}: {resp.status_code} {resp.text[:200]}"


@pytest.fixture
def http(app: Any, services: Any) -> Any:
    with TestClient(app) as c:
        c.tokens = Tokens(services, c)  # type: ignore[attr-defined]
        yield c


def test_each_role_is_denied_what_it_does_not_hold(http: Any, app: Any) -> None:
    routes = _operator_routes(app)
    assert len(routes) >= 30
    denied = admitted = 0
    for role in ALL_ROLES:
        token = http.tokens.operator(role)
        for method, path, access in routes:
            resp = _call(http, method, path, token)
            if role == Role.ADMINISTRATOR or role.value in access.roles:
                _assert_admitted(resp, role.value, method, path)
                admitted += 1
            else:
                _assert_denied(resp, role.value, method, path)
                denied += 1
    # every role is denied most operator routes: least privilege, not a matrix of "yes"
    assert denied > admitted


def test_clients_people_and_anonymous_on_operator_routes(http: Any, app: Any) -> None:
    approval = http.tokens.approval_client()  # scopes seal:sign license:issue, no roles
    citizen = http.tokens.citizen()  # a person at L2 with a licence, no roles
    client_scopes = {"seal:sign", "license:issue"}
    for method, path, access in _operator_routes(app):
        resp = _call(http, method, path, None)
        assert resp.status_code == 401, f"anonymous on {method} {path}: {resp.status_code}"
        assert resp.json()["type"] == "urn:ywt:problem:unauthenticated"
        resp = _call(http, method, path, approval)
        if access.scopes & client_scopes:
            _assert_admitted(resp, "approval client", method, path)
        else:
            _assert_denied(resp, "approval client", method, path)
        resp = _call(http, method, path, citizen)
        if access.holder:
            _assert_admitted(resp, "citizen", method, path)
        else:
            _assert_denied(resp, "citizen", method, path)


def _journal(http: Any, auditor: str, actor_prefix: str, after: int) -> list[dict[str, Any]]:
    resp = http.get(
        "/audit/v1/entries", params={"after": after, "limit": 500}, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert resp.status_code == 200, resp.text
    return [e for e in resp.json()["items"] if e["actor"].startswith(actor_prefix)]


def _head(http: Any, auditor: str) -> int:
    after = 0
    while True:
        resp = http.get(
            "/audit/v1/entries", params={"after": after, "limit": 500}, headers={"Authorization": f"Bearer {auditor}"}
        )
        body = resp.json()
        if body["items"]:
            after = body["items"][-1]["seq"]
        if body["next_after"] is None:
            return after


def test_operator_actions_are_journaled(http: Any, services: Any) -> None:
    """A sample of operator actions across domains: each leaves an entry naming the operator."""
    t = http.tokens
    auditor = t.operator(Role.AUDITOR)
    seal_mgr = t.operator(Role.SEAL_MANAGER)
    client_mgr = t.operator(Role.CLIENT_MANAGER)
    issuer = t.operator(Role.LICENSE_ISSUER)
    citizen = t.citizen()  # the citizen's L2 makes them eligible for an in-person check
    officer = t.operator(Role.IDENTITY_OFFICER)
    assert citizen
    head = _head(http, auditor)

    def bearer(tok: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tok}"}

    actions: list[tuple[str, Any]] = []
    r = http.post(
        "/identity/v1/clients",
        json={"client_id": "journal-probe", "client_name": "probe", "scope": "seal:sign"},
        headers=bearer(client_mgr),
    )
    assert r.status_code == 201, r.text
    actions.append(("client", r))
    r = http.post("/identity/v1/clients/journal-probe/disable", headers=bearer(client_mgr))
    assert r.status_code == 200, r.text
    seals = http.get("/seal/v1/seals", headers=bearer(seal_mgr)).json()
    rsa = next(s for s in seals if s["status"] == "active")
    r = http.post(
        "/seal/v1/grants", json={"seal_id": rsa["id"], "client_id": "journal-probe"}, headers=bearer(seal_mgr)
    )
    assert r.status_code == 201, r.text
    r = http.post(f"/seal/v1/grants/{r.json()['id']}/revoke", headers=bearer(seal_mgr))
    assert r.status_code == 200, r.text
    types = http.get("/license/v1/types").json()
    code = types[0]["type_code"]
    r = http.post(f"/license/v1/types/{code}/active", json={"active": False}, headers=bearer(issuer))
    assert r.status_code == 200, r.text
    r = http.post(f"/license/v1/types/{code}/active", json={"active": True}, headers=bearer(issuer))
    assert r.status_code == 200, r.text
    from api.demo import CITIZEN_USER

    r = http.post(
        f"/identity/v1/accounts/{CITIZEN_USER}/verifications",
        json={"method": "counter", "evidence_ref": "GT-2024-0001"},
        headers=bearer(officer),
    )
    assert r.status_code == 201, r.text

    entries = _journal(http, auditor, "operator:", head)
    by_actor: dict[str, list[str]] = {}
    for e in entries:
        by_actor.setdefault(e["actor"], []).append(e["action"])
    actions_seen = [a for acts in by_actor.values() for a in acts]
    # one operator per role did the work: four distinct operators, each journaled at least once
    # per change it made (2 client changes, 2 grant changes, 2 type changes, 1 check)
    assert len(by_actor) == 4, by_actor
    assert sorted(len(v) for v in by_actor.values()) == [1, 2, 2, 2], by_actor
    assert all(a for a in actions_seen)
    # and the auditor's reading was not itself a change (reads are not journaled), but the chain holds
    v = http.get("/audit/v1/verify", headers=bearer(auditor))
    assert v.status_code == 200 and v.json()["ok"] is True, v.text
