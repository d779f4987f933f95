"""Property-based fuzzing of our OpenAPI document with schemathesis: generated requests (valid and
invalid) to every documented operation, bounded (``YWT_FUZZ_EXAMPLES`` per operation, default 10:
well under a minute; 30 takes about as long again), with a real access token of the demo operator
(all roles) so that the handlers behind the access checks are reached too. Browser pages (login,
authorization, step-up, logout, /verify) are not in the OpenAPI document; tests/identity covers them.

Judged: no 5xx ever (``not_a_server_error``), and every response whose status is documented matches
its documented schema and media type (``response_schema_conformance``, ``content_type_conformance``).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from api.demo import ADMIN_PASSWORD
from tests.identity.oidc_helpers import Flow, rp_client, tokens


@schemathesis.serializer("application/ocsp-request", "application/timestamp-query")
def _binary(ctx: Any, value: Any) -> dict[str, Any]:
    """OCSP requests and time-stamp queries are DER: sent as the bytes generated for them."""
    return {"data": value if isinstance(value, bytes) else str(value).encode()}


EXAMPLES = int(os.environ.get("YWT_FUZZ_EXAMPLES", "10"))


def test_api_never_fails_and_answers_as_documented(services: Any) -> None:
    from hypothesis import given

    svc_settings = services.settings.model_copy(update={"rate_limits_enabled": False})
    services.settings = svc_settings
    app = create_app(svc_settings, services)
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    with TestClient(app) as c:
        console = rp_client(services, "fuzz-console", scopes="openid profile roles")
        flow = Flow(
            client_id="fuzz-console",
            redirect_uri="https://rp.example.gov.cn/cb",
            scope="openid roles",
            secret=console.secret or "",
        )
        token = tokens(c, flow, username="admin", password=ADMIN_PASSWORD)["access_token"]
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [r.ok() for r in schema.get_all_operations()]
        assert len(operations) > 60
        for op in operations:

            @given(case=op.as_strategy() | op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {token}"},
                    checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
                )

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
                failures[f"{op.method.upper()} {op.path}"] = str(exc)[:1500]
        # fuzzed data rarely makes a valid licence: issue, list, read and download one for real, through
        # the same schema checks, so the documented licence shapes are checked against real answers
        from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
        from tests.identity.oauth_helpers import client_token
        from tests.license.licence_helpers import person_data
        from tests.license.license_samples import QUALIFICATION

        checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
        issuer = {"Authorization": f"Bearer {client_token(c, APPROVAL_CLIENT, APPROVAL_SECRET)}"}
        body = {"type_code": QUALIFICATION, "data": person_data("TJ2024FUZZ0001")}
        issued = schema["/license/v1/licenses"]["POST"].Case(body=body).call_and_validate(headers=issuer, checks=checks)
        assert issued.status_code == 201, issued.text
        lic = {"licence_id": issued.json()["id"]}
        for path, kw in (
            ("/license/v1/licenses", {}),
            ("/license/v1/licenses/{licence_id}", {"path_parameters": lic}),
            ("/license/v1/licenses/{licence_id}/pdf", {"path_parameters": lic}),
        ):
            got = schema[path]["GET"].Case(**kw).call_and_validate(headers=issuer, checks=checks)
            assert got.status_code == 200, (path, got.text[:300])
        # and the verification report of its QR code (TOTAL-PASSED) against the documented report
        qr = {"payload": issued.json()["qr"]["payload"]}
        report = schema["/verify/v1/qr"]["POST"].Case(body=qr, media_type="application/json")
        got = report.call_and_validate(checks=checks)
        assert got.status_code == 200 and got.json()["indication"] == "TOTAL-PASSED", got.text[:300]
    print(f"{sum(calls.values())} requests to {len(calls)} operations")
    assert len(calls) == len(operations) and sum(calls.values()) >= 2 * len(operations)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_values_the_database_cannot_hold_are_bad_input(client: TestClient) -> None:
    """What the fuzzing found on PostgreSQL, pinned: a NUL character in a search value (PostgreSQL
    text cannot hold it) and a number beyond the column are 4xx problems, never a 500."""
    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
    from tests.identity.oauth_helpers import client_token

    auth = {"Authorization": f"Bearer {client_token(client, APPROVAL_CLIENT, APPROVAL_SECRET)}"}
    for params in ({"number": "JY2\x001"}, {"type_code": "\x00"}, {"offset": str(10**12)}):
        r = client.get("/license/v1/licenses", params=params, headers=auth)
        assert r.status_code in (200, 400, 422), (params, r.status_code, r.text[:200])
        if r.status_code != 200:  # SQLite stores NUL; PostgreSQL refuses it
            assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/license/v1/licenses/search", json={"number": "a\u0000b"}, headers=auth)
    assert r.status_code in (200, 400), r.text[:200]
