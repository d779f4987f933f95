"""OpenID Connect provider: authorization code + PKCE, ID tokens and claims, refresh rotation,
userinfo, introspection, revocation, prompt / max_age / acr_values with step-up, pairwise subs,
entity claims, operator roles, RP-initiated logout.

Rejections tried (the RFC error and that no token came out): replayed code (and the tokens of
the first exchange revoked), PKCE mismatch / missing verifier / verifier without challenge /
``plain`` method / malformed challenge, public client without PKCE, redirect_uri variations
(trailing slash, other port, other scheme, upper case, extra query, fragment, missing), a code
for another client, a code after 60 s, redirect_uri differing at the token endpoint, scope not
allowed (id_number), missing openid, unsupported response_type / response_mode, request objects,
repeated parameters, prompt=none without a session, bad max_age, refresh token reuse (family
revoked), refresh by another client, widening scope on refresh, revoked tokens at userinfo and
refresh, introspection by a public client, a foreign client's introspection / revocation,
logout with an unregistered post_logout_redirect_uri or a forged id_token_hint.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.container import Services
from api.demo import ADMIN_PASSWORD, ADMIN_USER, CITIZEN_USER, RP_CLIENT, RP_POST_LOGOUT, RP_REDIRECT
from core import clock
from identity.clients import SubjectType
from identity.sources.demo import DEMO_CITIZEN, DEMO_DEPARTMENT, DEMO_DEPARTMENT_HEAD
from tests.identity.oauth_helpers import b64e, jwt_parts, oauth_problem
from tests.identity.oidc_helpers import Flow, authorize, callback_params, code_for, rp_client, tokens
from tests.identity.web_helpers import form, last_code, submit


def _userinfo(client: TestClient, at: str) -> Any:
    return client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {at}"})


def _refresh(client: TestClient, flow: Flow, rt: str, **extra: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": rt, **extra}
    if not flow.secret:
        data["client_id"] = flow.client_id
    return client.post("/oauth2/token", data=data, headers=flow.auth_headers())


# -- the happy path -------------------------------------------------------------------------------------


def test_code_flow_with_pkce_public_client(client: TestClient, services: Services) -> None:
    flow = Flow(scope="openid profile phone")
    body = tokens(client, flow)
    assert body["token_type"] == "Bearer" and body["scope"] == "openid phone profile" and body["refresh_token"]
    header, claims, _ = jwt_parts(body["id_token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert claims["iss"] == services.settings.base_url and claims["aud"] == RP_CLIENT and claims["azp"] == RP_CLIENT
    assert claims["nonce"] == flow.nonce and claims["acr"] == "L2" and claims["amr"] == ["pwd"] and claims["sid"]
    assert claims["name"] == "张三" and claims["id_number_masked"] == "1201**********1239"
    assert "id_number" not in claims and claims["phone_number"] == "+86" + DEMO_CITIZEN.phone
    at_hash = b64e(hashlib.sha256(body["access_token"].encode()).digest()[:16])
    assert claims["at_hash"] == at_hash
    assert claims["exp"] - claims["iat"] == 600 and claims["auth_time"] <= claims["iat"]
    at_header, at_claims, _ = jwt_parts(body["access_token"])
    assert at_header["typ"] == "at+jwt" and at_claims["sub"] == claims["sub"] and at_claims["acr"] == "L2"
    info = _userinfo(client, body["access_token"])
    assert info.status_code == 200 and info.headers["cache-control"] == "no-store"
    assert info.json()["sub"] == claims["sub"] and info.json()["name"] == "张三"
    assert DEMO_CITIZEN.id_number not in info.text
    principal = services.token_verifier(body["access_token"])
    assert principal.kind == "user" and principal.acr == "L2"


def test_python_jose_verifies_our_rs256_id_token(client: TestClient, services: Services) -> None:
    from jose import jwt as jose_jwt

    flow = Flow()
    body = tokens(client, flow)
    kid = jose_jwt.get_unverified_header(body["id_token"])["kid"]
    jwks = next(k for k in client.get("/oauth2/jwks").json()["keys"] if k["kid"] == kid)  # as an RP picks by kid
    claims = jose_jwt.decode(
        body["id_token"],
        jwks,
        algorithms=["RS256"],
        audience=RP_CLIENT,
        issuer=services.settings.base_url,
        access_token=body["access_token"],  # python-jose checks at_hash too
    )
    assert claims["nonce"] == flow.nonce
    with pytest.raises(Exception, match="at_hash"):
        jose_jwt.decode(body["id_token"], jwks, algorithms=["RS256"], audience=RP_CLIENT, access_token="x.y.z")


def test_sm2_client_id_token_verified_by_gmssl(client: TestClient, services: Services) -> None:
    from gmssl import sm2

    flow = rp_client(services, "sm2-rp", alg="SM2")
    body = tokens(client, flow)
    header, claims, sig = jwt_parts(body["id_token"])
    assert header["alg"] == "SM2" and len(sig) == 64
    assert claims["at_hash"] == b64e(hashlib.new("sm3", body["access_token"].encode()).digest()[:16])
    jwk = next(k for k in client.get("/oauth2/jwks").json()["keys"] if k["kid"] == header["kid"])
    x, y = (base64.urlsafe_b64decode(jwk[c] + "=").hex() for c in ("x", "y"))
    signing_input = body["id_token"].rsplit(".", 1)[0].encode()
    assert sm2.CryptSM2(public_key=x + y, private_key="").verify_with_sm3(sig.hex(), signing_input)


def test_confidential_client_without_pkce(client: TestClient, services: Services) -> None:
    flow = rp_client(services, "conf-rp")
    code = code_for(client, flow, code_challenge=None, code_challenge_method=None)
    resp = client.post("/oauth2/token", data=flow.token_form(code, code_verifier=None), headers=flow.auth_headers())
    assert resp.status_code == 200, resp.text


# -- refresh, revocation, introspection ---------------------------------------------------------------------


def test_refresh_rotation_and_reuse_revokes_family(client: TestClient, services: Services) -> None:
    flow = Flow()
    first = tokens(client, flow)
    second = _refresh(client, flow, first["refresh_token"])
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert jwt_parts(second_body["id_token"])[1]["sub"] == jwt_parts(first["id_token"])[1]["sub"]
    assert "nonce" not in jwt_parts(second_body["id_token"])[1]
    assert _userinfo(client, second_body["access_token"]).status_code == 200
    # reuse of the first (rotated) refresh token: the whole family goes
    oauth_problem(_refresh(client, flow, first["refresh_token"]), 400, "invalid_grant")
    oauth_problem(_refresh(client, flow, second_body["refresh_token"]), 400, "invalid_grant")
    assert _userinfo(client, second_body["access_token"]).status_code == 401
    assert _userinfo(client, first["access_token"]).status_code == 401


def test_refresh_bad_input(client: TestClient, services: Services) -> None:
    flow = Flow(scope="openid profile phone")
    body = tokens(client, flow)
    other = rp_client(services, "other-rp")
    oauth_problem(_refresh(client, other, body["refresh_token"]), 400, "invalid_grant")
    oauth_problem(_refresh(client, flow, body["refresh_token"], scope="openid profile entity"), 400, "invalid_scope")
    oauth_problem(_refresh(client, flow, "not-a-token"), 400, "invalid_grant")
    oauth_problem(_refresh(client, flow, ""), 400, "invalid_request")
    narrowed = _refresh(client, flow, body["refresh_token"], scope="openid profile")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "openid profile"
    # the family keeps the original scope for the next refresh
    again = _refresh(client, flow, narrowed.json()["refresh_token"])
    assert again.status_code == 200 and again.json()["scope"] == "openid phone profile"


def test_revocation(client: TestClient, services: Services) -> None:
    flow = Flow()
    body = tokens(client, flow)
    revoke = {"client_id": RP_CLIENT, "token_type_hint": "access_token"}
    assert client.post("/oauth2/revoke", data={**revoke, "token": body["access_token"]}).status_code == 200
    assert _userinfo(client, body["access_token"]).status_code == 401
    assert _refresh(client, flow, body["refresh_token"]).status_code == 200  # revoking the AT leaves the grant
    fresh = tokens(client, flow)
    assert (
        client.post("/oauth2/revoke", data={"client_id": RP_CLIENT, "token": fresh["refresh_token"]}).status_code == 200
    )
    oauth_problem(_refresh(client, flow, fresh["refresh_token"]), 400, "invalid_grant")
    assert _userinfo(client, fresh["access_token"]).status_code == 401  # RFC 7009 §2.1: same grant
    # unknown tokens and other clients' tokens: 200, nothing happens
    assert client.post("/oauth2/revoke", data={"client_id": RP_CLIENT, "token": "junk"}).status_code == 200
    third = tokens(client, flow)
    other = rp_client(services, "other-rp")
    resp = client.post("/oauth2/revoke", data={"token": third["access_token"]}, headers=other.auth_headers())
    assert resp.status_code == 200 and _userinfo(client, third["access_token"]).status_code == 200
    oauth_problem(client.post("/oauth2/revoke", data={"client_id": RP_CLIENT}), 400, "invalid_request")
    oauth_problem(
        client.post("/oauth2/revoke", data={"client_id": RP_CLIENT, "token": "x", "token_type_hint": "id_token"}),
        400,
        "unsupported_token_type",
    )


def test_introspection(client: TestClient, services: Services) -> None:
    rp = rp_client(services, "intro-rp")
    body = tokens(client, rp)
    resp = client.post("/oauth2/introspect", data={"token": body["access_token"]}, headers=rp.auth_headers())
    assert resp.status_code == 200
    info = resp.json()
    assert info["active"] is True and info["client_id"] == "intro-rp" and info["token_type"] == "Bearer"
    assert info["scope"] == "openid profile" and info["acr"] == "L2"
    rt = client.post("/oauth2/introspect", data={"token": body["refresh_token"]}, headers=rp.auth_headers()).json()
    assert rt["active"] is True and rt["token_type"] == "refresh_token"
    other = rp_client(services, "snoop-rp")
    assert client.post(
        "/oauth2/introspect", data={"token": body["access_token"]}, headers=other.auth_headers()
    ).json() == {"active": False}
    assert client.post("/oauth2/introspect", data={"token": "junk"}, headers=rp.auth_headers()).json() == {
        "active": False
    }
    oauth_problem(
        client.post("/oauth2/introspect", data={"token": body["access_token"], "client_id": RP_CLIENT}),
        401,
        "invalid_client",
    )
    client.post("/oauth2/revoke", data={"token": body["refresh_token"]}, headers=rp.auth_headers())
    assert client.post(
        "/oauth2/introspect", data={"token": body["refresh_token"]}, headers=rp.auth_headers()
    ).json() == {"active": False}


# -- code and PKCE attacks -------------------------------------------------------------------------------------


def test_replayed_code_revokes_tokens_of_first_exchange(client: TestClient, services: Services) -> None:
    flow = Flow()
    code = code_for(client, flow)
    first = client.post("/oauth2/token", data=flow.token_form(code))
    assert first.status_code == 200
    oauth_problem(client.post("/oauth2/token", data=flow.token_form(code)), 400, "invalid_grant")
    assert _userinfo(client, first.json()["access_token"]).status_code == 401
    oauth_problem(_refresh(client, flow, first.json()["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"code_verifier": "A" * 43}, 400, "invalid_grant"),
        ({"code_verifier": None}, 400, "invalid_grant"),
        ({"code_verifier": "short"}, 400, "invalid_grant"),
        ({"redirect_uri": RP_REDIRECT + "/"}, 400, "invalid_grant"),
        ({"redirect_uri": None}, 400, "invalid_grant"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"code": None}, 400, "invalid_request"),
        ({"client_id": "conf-rp"}, 401, "invalid_client"),
    ],
    ids=[
        "pkce-mismatch",
        "pkce-missing",
        "pkce-malformed",
        "redirect-differs",
        "redirect-missing",
        "unknown-code",
        "no-code",
        "other-client",
    ],
)
def test_token_request_bad_input(
    client: TestClient, services: Services, overrides: dict[str, str | None], status: int, error: str
) -> None:
    rp_client(services, "conf-rp")
    flow = Flow()
    code = code_for(client, flow)
    oauth_problem(client.post("/oauth2/token", data=flow.token_form(code, **overrides)), status, error)
    # the real request still works afterwards (nothing was consumed by the bad one), except for the
    # PKCE failure paths, which read the code but never mark it used either
    assert client.post("/oauth2/token", data=flow.token_form(code)).status_code == 200


def test_code_of_another_client_and_expired_code(client: TestClient, services: Services) -> None:
    conf = rp_client(services, "conf-rp")
    flow = Flow()
    code = code_for(client, flow)
    oauth_problem(
        client.post("/oauth2/token", data=conf.token_form(code, redirect_uri=RP_REDIRECT), headers=conf.auth_headers()),
        400,
        "invalid_grant",
    )
    start = clock.now()
    clock.set_global(start)
    try:
        late = code_for(client, Flow())
        clock.advance(timedelta(seconds=61))
        oauth_problem(client.post("/oauth2/token", data=flow.token_form(late)), 400, "invalid_grant")
    finally:
        clock.set_global(None)


@pytest.mark.parametrize(
    "redirect",
    [
        RP_REDIRECT + "/",
        "http://127.0.0.1:8766/callback",
        "https://127.0.0.1:8765/callback",
        "http://127.0.0.1:8765/Callback",
        RP_REDIRECT + "?x=1",
        RP_REDIRECT + "#f",
        "http://127.0.0.1:8765/callback/../callback",
        "http://localhost:8765/callback",
        None,
    ],
    ids=["slash", "port", "scheme", "case", "query", "fragment", "dotdot", "localhost", "missing"],
)
def test_redirect_uri_must_match_exactly_and_is_never_followed(client: TestClient, redirect: str | None) -> None:
    flow = Flow()
    resp = client.get("/oauth2/authorize", params=flow.params(redirect_uri=redirect), follow_redirects=False)
    assert resp.status_code == 400 and "location" not in resp.headers
    assert "redirect_uri" in resp.text


def test_unknown_client_is_shown_not_redirected(client: TestClient) -> None:
    resp = client.get("/oauth2/authorize", params=Flow().params(client_id="evil"), follow_redirects=False)
    assert resp.status_code == 400 and "location" not in resp.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "abc"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid id_number"}, "invalid_scope"),
        ({"scope": "openid seal:sign"}, "invalid_scope"),
        ({"request": "eyJ.e30."}, "request_not_supported"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
        ({"entity_uscc": "123"}, "invalid_request"),
    ],
    ids=[
        "public-without-pkce",
        "plain",
        "bad-challenge",
        "implicit",
        "hybrid",
        "fragment-mode",
        "no-openid",
        "id-number-not-allowed",
        "foreign-scope",
        "request-object",
        "prompt-none-login",
        "prompt-bogus",
        "max-age",
        "prompt-none-no-session",
        "entity-bad",
    ],
)
def test_authorization_errors_redirect_with_state_and_iss(
    client: TestClient, services: Services, overrides: dict[str, str | None], error: str
) -> None:
    flow = Flow()
    resp = client.get("/oauth2/authorize", params=flow.params(**overrides), follow_redirects=False)
    assert resp.status_code == 302, resp.text[:500]
    assert resp.headers["location"].startswith(RP_REDIRECT + "?")
    params = callback_params(resp.headers["location"])
    assert params["error"] == error and params["state"] == flow.state and params["iss"] == services.settings.base_url
    assert "code" not in params


def test_repeated_parameter_is_refused(client: TestClient) -> None:
    flow = Flow()
    query = "&".join(f"{k}={v}" for k, v in flow.params().items()) + "&scope=openid"
    resp = client.get(f"/oauth2/authorize?{query}", follow_redirects=False)
    assert resp.status_code == 400 and "location" not in resp.headers


# -- prompt, max_age, acr_values and step-up --------------------------------------------------------------------


def test_prompt_none_with_session_and_prompt_login(client: TestClient, services: Services) -> None:
    tokens(client, Flow())
    silent = client.get("/oauth2/authorize", params=Flow().params(prompt="none"), follow_redirects=False)
    assert silent.status_code == 302 and "code" in callback_params(silent.headers["location"])
    forced = client.get("/oauth2/authorize", params=Flow().params(prompt="login"), follow_redirects=False)
    assert forced.status_code == 303 and forced.headers["location"].startswith("/login?")
    login_page = client.get(forced.headers["location"])
    assert 'action="/login"' in login_page.text


def test_max_age(client: TestClient, services: Services) -> None:
    start = clock.now()
    clock.set_global(start)
    try:
        first = tokens(client, Flow())
        auth_time = jwt_parts(first["id_token"])[1]["auth_time"]
        clock.advance(timedelta(seconds=120))
        quick = client.get("/oauth2/authorize", params=Flow().params(max_age="600"), follow_redirects=False)
        assert quick.status_code == 302
        stale = client.get("/oauth2/authorize", params=Flow().params(max_age="60"), follow_redirects=False)
        assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
        again = tokens(client, Flow(), max_age="60")
        assert jwt_parts(again["id_token"])[1]["auth_time"] >= auth_time + 120
    finally:
        clock.set_global(None)


def test_acr_values_step_up_to_l3(client: TestClient, services: Services) -> None:
    assert jwt_parts(tokens(client, Flow(), acr_values="L2")["id_token"])[1]["acr"] == "L2"
    flow = Flow()
    resp = authorize(client, flow, acr_values="L3")
    assert resp.status_code == 200 and "增强认证" in resp.text and "L3" in resp.text
    # the account is L2: raise it with the telecom 3-element check, then add a second factor
    upgraded = submit(client, resp.text, "/login/stepup/verify")
    assert upgraded.status_code == 200 and "核验成功" in upgraded.text
    sent = submit(client, upgraded.text, "/login/stepup/send")
    assert sent.status_code == 200 and "短信验证码" in sent.text
    done = submit(client, sent.text, "/login/stepup", code=last_code(services, DEMO_CITIZEN.phone))
    assert done.status_code == 303
    final = client.get(done.headers["location"], follow_redirects=False)
    code = callback_params(final.headers["location"])["code"]
    body = client.post("/oauth2/token", data=flow.token_form(code)).json()
    claims = jwt_parts(body["id_token"])[1]
    assert claims["acr"] == "L3" and "mfa" in claims["amr"]
    assert services.token_verifier(body["access_token"]).acr == "L3"


def test_step_up_wrong_code_and_prompt_none(client: TestClient, services: Services) -> None:
    tokens(client, Flow())
    silent = client.get(
        "/oauth2/authorize", params=Flow().params(prompt="none", acr_values="L3"), follow_redirects=False
    )
    assert callback_params(silent.headers["location"])["error"] == "interaction_required"
    page = authorize(client, Flow(), acr_values="L3").text
    page = submit(client, page, "/login/stepup/verify").text
    sent = submit(client, page, "/login/stepup/send").text
    wrong = submit(client, sent, "/login/stepup", code="000000")
    assert wrong.status_code == 401 and "验证码错误" in wrong.text


# -- subjects and claims -------------------------------------------------------------------------------------


def test_pairwise_subjects(client: TestClient, services: Services) -> None:
    public = jwt_parts(tokens(client, Flow())["id_token"])[1]["sub"]
    a = rp_client(services, "pw-a", subject=SubjectType.PAIRWISE, redirect="https://a.example.gov.cn/cb")
    b = rp_client(services, "pw-b", subject=SubjectType.PAIRWISE, redirect="https://b.example.gov.cn/cb")
    a2 = rp_client(services, "pw-a2", subject=SubjectType.PAIRWISE, redirect="https://a.example.gov.cn/other")
    body_a = tokens(client, a)
    sub_a = jwt_parts(body_a["id_token"])[1]["sub"]
    sub_b = jwt_parts(tokens(client, b)["id_token"])[1]["sub"]
    sub_a2 = jwt_parts(tokens(client, a2)["id_token"])[1]["sub"]
    assert len({public, sub_a, sub_b}) == 3 and sub_a == sub_a2  # same sector (host), same sub
    assert _userinfo(client, body_a["access_token"]).json()["sub"] == sub_a
    assert jwt_parts(body_a["access_token"])[1]["sub"] == sub_a and public not in body_a["access_token"]
    me = client.get("/identity/v1/me", headers={"Authorization": f"Bearer {body_a['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == CITIZEN_USER


def test_full_id_number_only_with_its_scope(client: TestClient, services: Services) -> None:
    flow = rp_client(services, "social-security", scopes="openid profile id_number")
    flow.scope = "openid profile id_number"
    claims = jwt_parts(tokens(client, flow)["id_token"])[1]
    assert claims["id_number"] == DEMO_CITIZEN.id_number and claims["id_number_verified"] is True
    flow.scope = "openid profile"
    claims = jwt_parts(tokens(client, flow)["id_token"])[1]
    assert "id_number" not in claims and claims["id_number_masked"] == "1201**********1239"


def test_entity_claims_for_an_agent(client: TestClient, services: Services) -> None:
    with services.db.session() as s:
        from identity.sources import EntityRecord, EntityStatus

        account = services.identity.accounts.by_username(s, CITIZEN_USER)
        assert account is not None and account.person_id is not None
        record = EntityRecord(
            DEMO_DEPARTMENT.uscc,
            DEMO_DEPARTMENT.name,
            DEMO_DEPARTMENT_HEAD.name,
            EntityStatus.ACTIVE,
            DEMO_DEPARTMENT.registered_on,
        )
        services.identity.registry.upsert_entity(s, record, "test", actor="test")
        services.identity.registry.authorise(
            s,
            DEMO_DEPARTMENT.uscc,
            account.person_id,
            role="agent",
            scope=("seal:apply",),
            valid_until=None,
            granted_by="test",
            actor="test",
        )
    body = tokens(client, Flow(scope="openid profile entity"))
    claims = jwt_parts(body["id_token"])[1]
    assert claims["entity"] == {
        "uscc": DEMO_DEPARTMENT.uscc,
        "name": DEMO_DEPARTMENT.name,
        "role": "agent",
        "scope": "seal:apply",
    }
    assert claims["entities"] == [{"uscc": DEMO_DEPARTMENT.uscc, "name": DEMO_DEPARTMENT.name, "role": "agent"}]
    assert services.token_verifier(body["access_token"]).entity_uscc == DEMO_DEPARTMENT.uscc
    denied = client.get(
        "/oauth2/authorize",
        params=Flow(scope="openid entity").params(entity_uscc="91120116MA05D1E12G"),
        follow_redirects=False,
    )
    assert callback_params(denied.headers["location"])["error"] == "access_denied"


def test_operator_roles_only_with_roles_scope(client: TestClient, services: Services) -> None:
    flow = rp_client(services, "console", scopes="openid profile roles")
    flow.scope = "openid profile roles"
    body = tokens(client, flow, username=ADMIN_USER, password=ADMIN_PASSWORD)
    principal = services.token_verifier(body["access_token"])
    assert principal.kind == "operator" and "client_manager" in principal.roles
    assert (
        client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code
        == 200
    )
    flow.scope = "openid profile"
    client.cookies.clear()
    plain = tokens(client, flow, username=ADMIN_USER, password=ADMIN_PASSWORD)
    assert services.token_verifier(plain["access_token"]).roles == frozenset()
    assert (
        client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {plain['access_token']}"}).status_code
        == 403
    )


def test_userinfo_refuses_client_tokens_and_garbage(client: TestClient) -> None:
    from tests.identity.oauth_helpers import client_token

    assert _userinfo(client, client_token(client)).status_code == 401
    resp = client.get("/oauth2/userinfo")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    resp = _userinfo(client, "garbage")
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]


# -- RP-initiated logout ---------------------------------------------------------------------------------------


def test_rp_initiated_logout_ends_session_and_revokes_its_grants(client: TestClient, services: Services) -> None:
    flow = Flow()
    body = tokens(client, flow)
    page = client.get(
        "/oauth2/logout",
        params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": RP_POST_LOGOUT, "state": "bye"},
    )
    assert page.status_code == 200 and "示例部门业务系统" in page.text
    done = submit(client, page.text, "/oauth2/logout/confirm")
    assert done.status_code == 303 and done.headers["location"] == RP_POST_LOGOUT + "?state=bye"
    assert client.get("/account", follow_redirects=False).status_code == 303
    oauth_problem(_refresh(client, flow, body["refresh_token"]), 400, "invalid_grant")
    assert _userinfo(client, body["access_token"]).status_code == 401
    again = client.get("/oauth2/authorize", params=Flow().params(prompt="none"), follow_redirects=False)
    assert callback_params(again.headers["location"])["error"] == "login_required"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": RP_CLIENT, "post_logout_redirect_uri": "https://evil.example/"},
        {"post_logout_redirect_uri": RP_POST_LOGOUT},
        {"id_token_hint": "eyJhbGciOiJub25lIn0.eyJhdWQiOiJkZW1vLXJwIn0."},
    ],
    ids=["unregistered-uri", "uri-without-client", "forged-hint"],
)
def test_logout_bad_input(client: TestClient, params: dict[str, str]) -> None:
    resp = client.get("/oauth2/logout", params=params, follow_redirects=False)
    assert resp.status_code == 400 and "location" not in resp.headers


def test_logout_confirm_needs_csrf(client: TestClient) -> None:
    tokens(client, Flow())
    page = client.get("/oauth2/logout", params={"client_id": RP_CLIENT, "post_logout_redirect_uri": RP_POST_LOGOUT})
    fields = {k: v for k, v in form(page.text, "/oauth2/logout/confirm")["fields"].items() if k != "csrf"}
    resp = client.post("/oauth2/logout/confirm", data=fields, follow_redirects=False)
    assert resp.status_code == 403
    assert client.get("/account", follow_redirects=False).status_code == 200
