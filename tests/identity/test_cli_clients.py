"""``ywt client ...`` and ``ywt token-keys ...`` against a cloned installation.

Bad input tried: an invalid USCC for ``--acts-for`` (exit 1, problem text, nothing stored), a
duplicate client id, a public client asking for client_credentials, an unknown client.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.container import Services
from core.settings import Settings
from tests.identity.oauth_helpers import basic, client_token, jwt_parts


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YWT_HOME", str(settings.home))
    monkeypatch.setenv("YWT_ENV", "test")
    monkeypatch.setenv("YWT_BASE_URL", settings.base_url)
    if settings.database_url:
        monkeypatch.setenv("YWT_DATABASE_URL", settings.database_url)


def test_client_add_list_show_rotate_disable(
    cli_env: None, services: Services, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "client",
            "add",
            "approval-2",
            "--name",
            "第二审批系统",
            "--scope",
            "seal:sign",
            "--alg",
            "ES256",
            "--acts-for",
            "11120000MB0000019W",
            "--json",
        ]
    )
    assert rc == 0
    created = json.loads(capsys.readouterr().out)
    secret = created["client_secret"]
    assert created["acts_for"] == "11120000MB0000019W" and created["token_signing_alg"] == "ES256"
    token = client_token(client, "approval-2", secret)
    assert jwt_parts(token)[0]["alg"] == "ES256"

    assert main(["client", "list"]) == 0
    listing = capsys.readouterr().out
    assert "approval-2" in listing and "demo-approval" in listing and secret not in listing
    assert main(["client", "show", "approval-2", "--json"]) == 0
    assert "client_secret" not in json.loads(capsys.readouterr().out)

    assert main(["client", "rotate-secret", "approval-2", "--json"]) == 0
    new_secret = json.loads(capsys.readouterr().out)["client_secret"]
    assert new_secret != secret
    client_token(client, "approval-2", new_secret)

    assert main(["client", "update", "approval-2", "--alg", "SM2"]) == 0
    capsys.readouterr()
    assert jwt_parts(client_token(client, "approval-2", new_secret))[0]["alg"] == "SM2"

    assert main(["client", "disable", "approval-2"]) == 0
    resp = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("approval-2", new_secret)
    )
    assert resp.status_code == 401


def test_public_client_with_redirect_uri(cli_env: None, services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "client",
            "add",
            "mobile-app",
            "--public",
            "--scope",
            "openid profile",
            "--redirect-uri",
            "http://127.0.0.1:9999/cb",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["token_endpoint_auth_method"] == "none" and "client_secret" not in out
    assert out["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "add", "bad-uscc", "--acts-for", "11120000MB0000019X"],
        ["client", "add", "demo-approval"],
        ["client", "add", "pub-cc", "--public", "--grant", "client_credentials"],
        ["client", "show", "no-such-client"],
    ],
    ids=["bad-uscc", "duplicate", "public-client-credentials", "unknown"],
)
def test_cli_refuses_bad_input(
    cli_env: None, services: Services, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = {c.client_id for c in _clients(services)}
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("ywt: ")
    assert {c.client_id for c in _clients(services)} == before


def _clients(services: Services) -> list[object]:
    with services.db.session() as s:
        return list(services.identity.clients.list(s))


def test_token_keys_list_and_rotate(cli_env: None, services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token-keys", "list"]) == 0
    before = capsys.readouterr().out.splitlines()
    assert len(before) == 3 and all(" active " in line for line in before)
    assert main(["token-keys", "rotate", "--family", "sm2"]) == 0
    capsys.readouterr()
    assert main(["token-keys", "list"]) == 0
    after = capsys.readouterr().out.splitlines()
    assert len(after) == 4 and sum(" retired " in line for line in after) == 1
    assert any("SM2" in line and "retired" in line and "published until" in line for line in after)
