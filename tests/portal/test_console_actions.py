"""Management actions of the operator console: clients (disable / enable, rotate the secret),
licence types (add a type or a new version from its JSON definition, deactivate / reactivate) and
seals (upload a custom PNG image). Each action is done by an operator holding only the role the
section needs, checked afterwards through the domain (or the public JSON API / token endpoint) and
in the audit journal; each is refused to an operator of another role, and bad input gives a 4xx
page with the reason and changes nothing.
"""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from PIL import Image, ImageDraw

from api.container import Services
from api.demo import APPROVAL_CLIENT
from core.audit import recent_entries
from identity import operators
from identity.operators import Role
from identity.sources.demo import DEMO_DEPARTMENT
from license import registry
from license.types import builtin_types
from seal.images import MAX_UPLOAD_BYTES
from tests.identity.web_helpers import forms
from tests.portal.test_portal_pages import _as, form, submit

PASSWORD = "console-actions-pw-2026"
QUALIFICATION = "11120000000002022H001"
NEW_TYPE = "11120000000002022H009"
ROLE_DENIED = "您没有执行此操作的权限"
CSRF_REFUSED = "页面已过期或来源不正确"


def _operator(services: Services, role: Role) -> str:
    name = f"ca-{role.value.replace('_', '-')}"
    with services.db.session() as s:
        if operators.get_operator(s, name) is None:
            operators.create_operator(s, services.journal, name, PASSWORD, {role}, actor="test")
    return name


def _browser(client: TestClient, services: Services, role: Role) -> TestClient:
    browser = TestClient(client.app)
    _as(browser, _operator(services, role), PASSWORD)
    return browser


def _token(page: str) -> str:
    token = next((f["fields"].get("csrf") for f in forms(page) if f["fields"].get("csrf")), None)
    assert token, page[:2000]
    return str(token)


def _journal(services: Services, prefix: str) -> list[tuple[str, str, str]]:
    with services.db.session() as s:
        return [(e.action, e.target, e.actor) for e in recent_entries(s, 500, prefix)]


def _client_token(client: TestClient, client_id: str, secret: str) -> int:
    resp = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    return resp.status_code


# -- clients ------------------------------------------------------------------------------------------


def test_client_manager_disables_enables_and_rotates_a_secret(client: TestClient, services: Services) -> None:
    """End to end with a client_manager-only operator: a registered client gets a new secret (shown
    once; the old one fails at the token endpoint, the new one works), is disabled (no token even
    with the right secret; the list says 停用) and enabled again; each step is in the journal.
    Bad inputs tried: no CSRF token, a wrong one, an unknown client id, an unknown action, a secret
    rotation of a client without a secret, and every action by a seal_manager operator."""
    manager = _browser(client, services, Role.CLIENT_MANAGER)
    page = manager.get("/console/clients").text
    assert APPROVAL_CLIENT in page and "✔ 启用 active" in page
    created = submit(
        manager, page, "/console/clients", client_id="bank-rot", client_name="某银行验证系统", scope="seal:sign"
    )
    assert created.status_code == 200, created.text[:2000]
    first = re.search(r"<code>([^<]+)</code>", created.text)
    assert first
    old_secret = html.unescape(first.group(1))
    assert _client_token(client, "bank-rot", old_secret) == 200

    rotated = submit(manager, created.text, "/console/clients/bank-rot/secret")
    assert rotated.status_code == 200 and "旧密钥已失效" in rotated.text and "新密钥" in rotated.text
    second = re.search(r"<code>([^<]+)</code>", rotated.text)
    assert second
    new_secret = html.unescape(second.group(1))
    assert new_secret != old_secret
    assert _client_token(client, "bank-rot", old_secret) == 401
    assert _client_token(client, "bank-rot", new_secret) == 200
    assert new_secret not in manager.get("/console/clients").text  # shown once

    disabled = submit(manager, rotated.text, "/console/clients/bank-rot/disable")
    assert disabled.status_code == 200 and "bank-rot 现为：✘ 停用 disabled" in disabled.text
    assert 'action="/console/clients/bank-rot/enable"' in disabled.text
    with services.db.session() as s:
        assert services.identity.clients.get(s, "bank-rot").active is False
    assert _client_token(client, "bank-rot", new_secret) != 200

    enabled = submit(manager, disabled.text, "/console/clients/bank-rot/enable")
    assert enabled.status_code == 200 and "bank-rot 现为：✔ 启用 active" in enabled.text
    with services.db.session() as s:
        assert services.identity.clients.get(s, "bank-rot").active is True
    assert _client_token(client, "bank-rot", new_secret) == 200

    journaled = [(a, t, actor) for a, t, actor in _journal(services, "identity.client.") if t == "bank-rot"]
    steps = [(a, t) for a, t, _ in journaled if a != "identity.client.auth_failed"]  # the token tries
    assert steps == [
        ("identity.client.enable", "bank-rot"),
        ("identity.client.disable", "bank-rot"),
        ("identity.client.rotate_secret", "bank-rot"),
        ("identity.client.create", "bank-rot"),
    ]
    assert all(actor.startswith("operator:") for a, _, actor in journaled if a != "identity.client.auth_failed")

    # refused, and nothing changes
    before = _journal(services, "identity.client.")
    token = _token(enabled.text)
    for data in ({}, {"csrf": "0" * 64}):
        resp = manager.post(f"/console/clients/{APPROVAL_CLIENT}/disable", data=data)
        assert resp.status_code == 403 and CSRF_REFUSED in resp.text
    unknown = manager.post("/console/clients/no-such-client/disable", data={"csrf": token})
    assert unknown.status_code == 404 and "未知的应用" in unknown.text
    unknown_secret = manager.post("/console/clients/no-such-client/secret", data={"csrf": token})
    assert unknown_secret.status_code == 404
    bad_op = manager.post(f"/console/clients/{APPROVAL_CLIENT}/delete", data={"csrf": token})
    assert bad_op.status_code == 400
    sealer = _browser(client, services, Role.SEAL_MANAGER)
    sealer_token = _token(sealer.get("/console/seals").text)
    for op in ("disable", "enable", "secret"):
        denied = sealer.post(f"/console/clients/{APPROVAL_CLIENT}/{op}", data={"csrf": sealer_token})
        assert denied.status_code == 403 and ROLE_DENIED in denied.text, op
    assert _journal(services, "identity.client.") == before
    with services.db.session() as s:
        assert services.identity.clients.get(s, APPROVAL_CLIENT).active is True


def test_rotating_the_secret_of_a_client_without_one_is_refused(client: TestClient, services: Services) -> None:
    """A public client (PKCE, no secret) offers no rotate button; posting the rotation anyway gives
    the domain's 400 (``invalid-client-metadata``) and no journal entry."""
    from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType

    spec = ClientSpec(
        client_id="spa-public",
        name="公众端",
        client_type=ClientType.PUBLIC,
        auth_method=AuthMethod.NONE,
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid"}),
        redirect_uris=("https://spa.example.cn/cb",),
    )
    with services.db.session() as s:
        services.identity.clients.create(s, spec, actor="test")
    manager = _browser(client, services, Role.CLIENT_MANAGER)
    page = manager.get("/console/clients").text
    assert 'action="/console/clients/spa-public/disable"' in page
    assert 'action="/console/clients/spa-public/secret"' not in page
    before = _journal(services, "identity.client.")
    resp = manager.post("/console/clients/spa-public/secret", data={"csrf": _token(page)})
    assert resp.status_code == 400 and "应用注册信息不正确" in resp.text
    assert _journal(services, "identity.client.") == before


# -- licence types ------------------------------------------------------------------------------------


def _definition(**changes: Any) -> dict[str, Any]:
    t = builtin_types()[QUALIFICATION].to_dict()
    t.update(type_code=NEW_TYPE, name="专业技术人员职业资格证书")
    t.update(changes)
    return t


def _type_state(services: Services) -> list[tuple[str, int, bool]]:
    with services.db.session() as s:
        return [(t.type_code, t.version, t.active) for t in registry.list_types(s, include_inactive=True)]


def test_licence_issuer_adds_a_type_a_version_and_deactivates_it(client: TestClient, services: Services) -> None:
    """A license_issuer-only operator pastes a definition (new type v1, visible in the public JSON
    API), uploads a second version as a .json file (v2), deactivates the type (gone from the
    active list, issuing refused by the domain's list) and reactivates it; each step journaled."""
    issuer = _browser(client, services, Role.LICENSE_ISSUER)
    page = issuer.get("/console/types").text
    assert 'enctype="multipart/form-data"' in page and 'for="definition"' in page
    added = submit(issuer, page, "/console/types", definition=json.dumps(_definition(), ensure_ascii=False))
    assert (
        added.status_code == 200
        and f"已新增证照类型 Licence type added：「专业技术人员职业资格证书」{NEW_TYPE} v1" in added.text
    )
    public = client.get(f"/license/v1/types/{NEW_TYPE}").json()
    assert public["version"] == 1 and public["active"] is True and public["name"] == "专业技术人员职业资格证书"

    v2 = json.dumps(_definition(name_en="Professional qualification certificate"), ensure_ascii=False).encode()
    uploaded = issuer.post(
        "/console/types",
        data={"csrf": _token(added.text), "target": NEW_TYPE, "definition": ""},
        files={"definition_file": ("type.json", v2, "application/json")},
    )
    assert (
        uploaded.status_code == 200
        and f"已发布新版本 New version published：「专业技术人员职业资格证书」{NEW_TYPE} v2" in uploaded.text
    )
    public = client.get(f"/license/v1/types/{NEW_TYPE}").json()
    assert public["version"] == 2 and public["name_en"] == "Professional qualification certificate"

    off = submit(issuer, uploaded.text, f"/console/types/{NEW_TYPE}/deactivate")
    assert off.status_code == 200 and "现为：— 停用 inactive" in off.text
    assert NEW_TYPE not in {t["type_code"] for t in client.get("/license/v1/types").json()}
    assert (NEW_TYPE, 2, False) in _type_state(services)
    on = submit(issuer, off.text, f"/console/types/{NEW_TYPE}/activate")
    assert on.status_code == 200 and "现为：✔ 启用 active" in on.text
    assert NEW_TYPE in {t["type_code"] for t in client.get("/license/v1/types").json()}

    steps = [(a, actor) for a, t, actor in _journal(services, "license.type.") if t == NEW_TYPE]
    assert [a for a, _ in steps] == [
        "license.type.activate",
        "license.type.deactivate",
        "license.type.update",
        "license.type.add",
    ]
    assert all(actor.startswith("operator:") for _, actor in steps)


@pytest.mark.parametrize(
    ("definition", "status", "shown"),
    [
        ('{"type_code": "11120000000002022H009", ', 400, "not valid JSON"),
        ("[1, 2]", 400, "证照类型定义不正确"),
        (json.dumps(_definition(surprise=1)), 400, "unknown keys: surprise"),
        (json.dumps(_definition(type_code="11120000000002022H00X")), 400, "<code>type_code</code>"),
        (
            json.dumps({**_definition(), "fields": [{**_definition()["fields"][0], "max_length": None}]}),
            400,
            "fields[0]",
        ),
        (json.dumps(_definition(type_code=QUALIFICATION)), 409, "该类型代码已存在"),
        ("   ", 400, "paste the type"),
    ],
)
def test_bad_type_definitions_are_refused_with_the_problem_and_change_nothing(
    client: TestClient, services: Services, definition: str, status: int, shown: str
) -> None:
    """Malformed JSON, JSON that is not an object, an unknown key, a malformed type code, a broken
    field, an existing type code, and nothing at all: a 4xx page in Chinese naming the place of the
    problem (``位置 Path``), the pasted text shown again, no type stored, no journal entry."""
    issuer = _browser(client, services, Role.LICENSE_ISSUER)
    page = issuer.get("/console/types").text
    state, journal = _type_state(services), _journal(services, "license.type.")
    resp = submit(issuer, page, "/console/types", definition=definition)
    assert resp.status_code == status, resp.text[:3000]
    assert "✘" in resp.text and shown in html.unescape(resp.text), resp.text[:3000]
    if status == 400 and definition.strip():
        assert "位置" in resp.text and str(escape(definition[:30])) in resp.text  # shown again, escaped
    assert _type_state(services) == state and _journal(services, "license.type.") == journal


def test_type_actions_refused_without_role_csrf_or_a_known_type(client: TestClient, services: Services) -> None:
    """A client_manager operator cannot add or deactivate a type (403); the issuer without a CSRF
    token cannot either (403); an unknown type code gives 404, a new version whose code differs
    from the chosen type 400, an unknown action 400; nothing changes."""
    state, journal = _type_state(services), _journal(services, "license.type.")
    other = _browser(client, services, Role.CLIENT_MANAGER)
    token = _token(other.get("/console/clients").text)
    good = json.dumps(_definition())
    for path, data in (
        ("/console/types", {"csrf": token, "definition": good}),
        (f"/console/types/{QUALIFICATION}/deactivate", {"csrf": token}),
    ):
        resp = other.post(path, data=data)
        assert resp.status_code == 403 and ROLE_DENIED in resp.text, path
    issuer = _browser(client, services, Role.LICENSE_ISSUER)
    page = issuer.get("/console/types").text
    for data in ({"definition": good}, {"csrf": "0" * 64, "definition": good}):
        assert issuer.post("/console/types", data=data).status_code == 403
        assert issuer.post(f"/console/types/{QUALIFICATION}/deactivate", data=data).status_code == 403
    unknown = issuer.post("/console/types/11120000000002022H777/deactivate", data={"csrf": _token(page)})
    assert unknown.status_code == 404 and "未知的证照类型" in unknown.text
    wrong_target = submit(issuer, page, "/console/types", target=QUALIFICATION, definition=good)
    assert wrong_target.status_code == 400 and "type_code" in wrong_target.text
    bad_op = issuer.post(f"/console/types/{QUALIFICATION}/delete", data={"csrf": _token(page)})
    assert bad_op.status_code == 400
    assert _type_state(services) == state and _journal(services, "license.type.") == journal


# -- seal images --------------------------------------------------------------------------------------


def _png(width: int = 240, height: int = 240) -> bytes:
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((4, 4, width - 5, height - 5), outline=(0xE6, 0, 0x12, 255), width=8)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def _apply(browser: TestClient) -> tuple[str, str]:
    page = browser.get("/console/seals").text
    applied = submit(
        browser,
        page,
        "/console/seals",
        owner_uscc=DEMO_DEPARTMENT.uscc,
        owner_name=DEMO_DEPARTMENT.name,
        seal_type="contract",
        family="sm2",
        shape="round",
    )
    match = re.search(r"（(seal[^）]+)）", applied.text)
    assert match, applied.text[:2000]
    return match.group(1), applied.text


def test_seal_manager_uploads_a_custom_image_and_the_preview_shows_it(client: TestClient, services: Services) -> None:
    """A seal_manager-only operator uploads a PNG for an applied seal: the domain records it as
    ``uploaded`` with the new hash and width, the console preview serves exactly that image, the
    journal has ``seal.image``; after approval the upload form is gone and a post is refused (409)."""
    sealer = _browser(client, services, Role.SEAL_MANAGER)
    sid, page = _apply(sealer)
    assert f'action="/console/seals/{sid}/image"' in page and f'for="image-{sid}"' in page
    with services.db.session() as s:
        generated = services.seal.get(s, sid).image_sha256
    png = _png(300, 300)
    done = sealer.post(
        f"/console/seals/{sid}/image",
        data={"csrf": _token(page), "width_mm": "40"},
        files={"image": ("seal.png", png, "image/png")},
    )
    assert done.status_code == 200 and "Seal image uploaded" in done.text and "40 mm" in done.text
    assert "上传 uploaded" in done.text
    with services.db.session() as s:
        info = services.seal.get(s, sid)
        stored = services.seal.image_png(s, sid)
    assert info.image_source == "uploaded" and info.image_sha256 != generated and info.width_mm == 40
    preview = sealer.get(f"/console/seals/{sid}/image")
    assert preview.status_code == 200 and preview.content == stored
    with Image.open(io.BytesIO(preview.content)) as shown:
        assert shown.size == (300, 300)
    assert next((a, t) for a, t, _ in _journal(services, "seal.image")) == ("seal.image", sid)

    approved = submit(sealer, done.text, f"/console/seals/{sid}/approve")
    assert approved.status_code == 200 and f'action="/console/seals/{sid}/image"' not in approved.text
    late = sealer.post(
        f"/console/seals/{sid}/image",
        data={"csrf": _token(approved.text)},
        files={"image": ("s.png", _png(), "image/png")},
    )
    assert late.status_code == 409 and "当前状态下不能" in late.text


def test_bad_seal_images_are_refused_and_change_nothing(client: TestClient, services: Services) -> None:
    """Not a PNG (JPEG, SVG text), an empty file, no file at all, more bytes than the limit, more
    pixels per side than the limit, a width outside 20..60 mm or not a number, no CSRF token, an
    unknown seal, and a license_issuer operator: each a 4xx page, the seal's image unchanged, no
    ``seal.image`` journal entry."""
    sealer = _browser(client, services, Role.SEAL_MANAGER)
    sid, page = _apply(sealer)
    token = _token(page)
    with services.db.session() as s:
        before = services.seal.get(s, sid)
    journal = _journal(services, "seal.image")
    jpeg = io.BytesIO()
    Image.new("RGB", (100, 100), "red").save(jpeg, format="JPEG")
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_UPLOAD_BYTES
    cases: list[tuple[dict[str, str], dict[str, Any] | None, int, str]] = [
        ({"csrf": token}, {"image": ("seal.jpg", jpeg.getvalue(), "image/jpeg")}, 400, "仅接受 PNG"),
        (
            {"csrf": token},
            {"image": ("seal.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png")},
            400,
            "SVG",
        ),
        ({"csrf": token}, {"image": ("seal.png", b"", "image/png")}, 400, "✘"),
        ({"csrf": token}, None, 400, "choose a PNG file"),
        ({"csrf": token}, {"image": ("seal.png", huge, "image/png")}, 413, "印模图像过大"),
        ({"csrf": token}, {"image": ("seal.png", _png(5000, 64), "image/png")}, 413, "4096"),
        ({"csrf": token, "width_mm": "90"}, {"image": ("seal.png", _png(), "image/png")}, 400, "width_mm"),
        ({"csrf": token, "width_mm": "wide"}, {"image": ("seal.png", _png(), "image/png")}, 400, "bad form value"),
        ({}, {"image": ("seal.png", _png(), "image/png")}, 403, CSRF_REFUSED),
    ]
    for data, files, status, shown in cases:
        resp = sealer.post(f"/console/seals/{sid}/image", data=data, files=files)
        assert resp.status_code == status and shown in resp.text, (data, status, resp.status_code, resp.text[:2000])
    unknown = sealer.post(
        "/console/seals/seal-nope/image", data={"csrf": token}, files={"image": ("seal.png", _png(), "image/png")}
    )
    assert unknown.status_code == 404 and "没有找到该印章" in unknown.text
    issuer = _browser(client, services, Role.LICENSE_ISSUER)
    denied = issuer.post(
        f"/console/seals/{sid}/image",
        data={"csrf": _token(issuer.get("/console/types").text)},
        files={"image": ("seal.png", _png(), "image/png")},
    )
    assert denied.status_code == 403 and ROLE_DENIED in denied.text
    with services.db.session() as s:
        after = services.seal.get(s, sid)
    assert (after.image_sha256, after.image_source, after.width_mm) == (
        before.image_sha256,
        before.image_source,
        before.width_mm,
    )
    assert _journal(services, "seal.image") == journal


def test_new_console_forms_are_labelled_and_carry_csrf(client: TestClient, services: Services) -> None:
    """The new controls (file inputs, the definition text area, the type select, the width field)
    each have a label; every new POST form carries the CSRF token."""
    from tests.portal.test_portal_pages import _unlabelled

    admin = _browser(client, services, Role.ADMINISTRATOR)
    _apply(admin)
    for path in ("/console/clients", "/console/types", "/console/seals"):
        text = admin.get(path).text
        assert _unlabelled(text) == [], path
        for f in forms(text):
            if f["method"] == "post":
                assert f["fields"].get("csrf"), (path, f["action"])
    seals = admin.get("/console/seals").text
    assert re.search(r'<input type="file" id="image-seal[^"]+" name="image"', seals)
    assert form(admin.get("/console/types").text, "/console/types")["fields"]["csrf"]
