"""A tiny browser for the login pages: read a page's first form (hidden fields included), submit it."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from api.container import Services
from identity.numbers import normalize_phone

_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_INPUT = re.compile(r"<input\b([^>]*)>", re.I)
_ATTR = re.compile(r'([a-zA-Z_:-]+)="([^"]*)"')


def forms(page: str) -> list[dict[str, Any]]:
    out = []
    for attrs, body in _FORM.findall(page):
        a = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(attrs)}
        fields = {}
        for inp in _INPUT.findall(body):
            ia = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(inp)}
            if "name" in ia and ia.get("type") in ("hidden", None, "text", "password", "tel"):
                fields[ia["name"]] = ia.get("value", "")
        out.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": fields})
    return out


def form(page: str, action: str | None = None) -> dict[str, Any]:
    for f in forms(page):
        if action is None or f["action"] == action:
            return f
    raise AssertionError(f"no form {action!r} in page:\n{page[:2000]}")


def submit(client: TestClient, page: str, action: str | None = None, **values: str) -> Any:
    f = form(page, action)
    data = {**f["fields"], **values}
    return client.post(f["action"], data=data, follow_redirects=False)


def login(client: TestClient, username: str, password: str, next_url: str = "/account") -> Any:
    page = client.get(f"/login?next={next_url}").text
    return submit(client, page, "/login", username=username, password=password)


def last_code(services: Services, phone: str) -> str:
    with services.db.session() as s:
        msg = services.identity.outbox.latest_for(s, normalize_phone(phone))
        assert msg is not None, "no SMS in the outbox"
        match = re.search(r"\b(\d{6})\b", msg.text)
        assert match is not None
        return match.group(1)
