"""``IdentityService.inspect_token`` (for verify/): reports on our access and ID tokens and on the
national IdP's ID tokens; bad tokens give reports with a reason, never exceptions; numbers masked.

Bad input tried: garbage, ``alg: none``, a revoked access token, an expired ID token, a tampered ID
token, an unknown issuer, a national token with an unknown key.
"""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from api.container import Services
from core import clock
from identity.sources.demo import DEMO_CITIZEN
from tests.identity.oauth_helpers import b64e, client_token
from tests.identity.oidc_helpers import rp_client, tokens
from tests.identity.test_federation import ISSUER, MockIdp, mock

__all__ = ["mock"]


def test_our_tokens(client: TestClient, services: Services) -> None:
    at = client_token(client)
    report = services.identity.inspect_token(at)
    assert report.valid and report.kind == "access_token" and report.claims["client_id"] == "demo-approval"
    flow = rp_client(services, "ss", scopes="openid profile id_number")
    flow.scope = "openid profile id_number"
    body = tokens(client, flow)
    id_report = services.identity.inspect_token(body["id_token"])
    assert id_report.valid and id_report.kind == "id_token" and id_report.alg == "RS256"
    assert id_report.claims["id_number"] == "1201**********1239"
    assert DEMO_CITIZEN.id_number not in json.dumps(id_report.claims)
    client.post("/oauth2/revoke", data={"token": body["access_token"]}, headers=flow.auth_headers())
    revoked = services.identity.inspect_token(body["access_token"])
    assert not revoked.valid and revoked.reason == "revoked"
    h, _, s = body["id_token"].split(".")
    tampered = services.identity.inspect_token(
        h + "." + b64e(b'{"iss":"' + services.settings.base_url.encode() + b'"}') + "." + s
    )
    assert not tampered.valid and tampered.reason == "bad_signature"
    with clock.frozen(clock.now() + timedelta(hours=2)):
        expired = services.identity.inspect_token(body["id_token"])
    assert not expired.valid and expired.reason in ("expired", "unknown_key")


def test_garbage_and_untrusted(services: Services) -> None:
    assert services.identity.inspect_token("garbage").reason == "malformed"
    none = b64e(b'{"alg":"none"}') + "." + b64e(b'{"iss":"x"}') + "."
    assert services.identity.inspect_token(none).reason == "alg_not_allowed"
    idp = MockIdp()
    other = idp.sign({"iss": "https://unknown.example", "exp": 9999999999})
    report = services.identity.inspect_token(other)
    assert not report.valid and report.reason == "untrusted_issuer" and report.issuer == "https://unknown.example"


def test_national_tokens(services: Services, mock: tuple[MockIdp, object]) -> None:
    idp, federation = mock
    services.identity.federation = federation  # type: ignore[assignment]
    now = int(clock.now().timestamp())
    good = idp.sign(
        {
            "iss": ISSUER,
            "sub": "gj-1",
            "aud": "some-rp",
            "iat": now,
            "exp": now + 60,
            "id_number": DEMO_CITIZEN.id_number,
        }
    )
    report = services.identity.inspect_token(good)
    assert report.valid and report.issuer == ISSUER and report.claims["id_number"] == "1201**********1239"
    stranger = idp.sign({"iss": ISSUER, "sub": "gj-1", "exp": now + 60}, key=idp.other)
    assert services.identity.inspect_token(stranger).reason == "unknown_key"
