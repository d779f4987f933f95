"""Verification pages for people: ``GET /verify`` (upload a sealed PDF or a photo of a licence
QR code) and ``GET /v/{payload}`` (where a phone lands after scanning a licence QR code).

Chinese first, English secondary; the verdict comes first, big, and in words and a symbol as
well as colour. Bad input renders the page with an explanation (status 400/413), never a stack.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.deps import ServicesDep, SessionDep
from api.pages import render, templates
from api.problems import status_for
from api.ratelimit import VERIFY_LIMIT
from api.routes.verify import parse_at, verifier
from api.web import CsrfFailed, check_csrf, page, zh_error
from core.errors import YwtError
from verify.report import DocumentReport, Indication

router = APIRouter(include_in_schema=False)

CHECK_LABELS = {
    "byte-range": "签名范围",
    "integrity": "签名完整性",
    "certificate": "签章证书",
    "chain": "证书链",
    "revocation": "吊销状态",
    "validity": "有效期",
    "key-usage": "证书用途",
    "timestamp": "时间戳",
    "modifications": "签后修改",
    "seal-status": "印章状态",
    "parse": "文件格式",
    "signatures": "签章",
    "appended-data": "追加数据",
    "whole-file": "整体覆盖",
    "signature": "签名",
    "live-status": "证照状态",
    "issuer": "签发者",
    "audience": "受众",
    "header": "令牌头部",
}


def _beijing_filter(value: object) -> str:
    """ISO 8601 (UTC) -> Beijing time for people; anything else unchanged."""
    from datetime import datetime

    from verify.report import beijing

    if isinstance(value, datetime):
        return beijing(value)
    if isinstance(value, str):
        try:
            return beijing(datetime.fromisoformat(value))
        except ValueError:
            return value
    return "未知"


templates.env.filters.setdefault("beijing", _beijing_filter)

TONE = {Indication.TOTAL_PASSED: "ok", Indication.INDETERMINATE: "warn", Indication.TOTAL_FAILED: "bad"}
SYMBOL = {Indication.TOTAL_PASSED: "✔", Indication.INDETERMINATE: "？", Indication.TOTAL_FAILED: "✘"}
HEADLINE = {
    Indication.TOTAL_PASSED: ("真实有效", "Genuine"),
    Indication.INDETERMINATE: ("无法确认", "Cannot be confirmed"),
    Indication.TOTAL_FAILED: ("验证失败 · 不可信", "Not genuine"),
}


def _view(report: DocumentReport) -> dict[str, Any]:
    ind = report.indication
    return {
        "report": report,
        "data": report.as_dict(),
        "tone": TONE[ind],
        "symbol": SYMBOL[ind],
        "headline": HEADLINE[ind],
        "labels": CHECK_LABELS,
    }


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, services: ServicesDep) -> HTMLResponse:
    return page(request, services, "verify.html")


@router.post("/verify", dependencies=[Depends(VERIFY_LIMIT)], response_class=HTMLResponse)
async def verify_upload(
    request: Request,
    services: ServicesDep,
    file: Annotated[UploadFile | None, File()] = None,
    qr_text: Annotated[str | None, Form()] = None,
    at: Annotated[str | None, Form()] = None,
    csrf: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    svc = verifier(services)
    try:
        check_csrf(request, services, {"csrf": csrf})
        when = parse_at(at)
        data = await file.read() if file is not None else b""
        if data:
            if data[:1024].find(b"%PDF-") >= 0:
                report = await anyio.to_thread.run_sync(lambda: svc.verify_pdf(data, at=when))
            else:
                report = await anyio.to_thread.run_sync(lambda: svc.verify_qr_image(data, at=when))
        elif qr_text and qr_text.strip():
            text = qr_text
            report = await anyio.to_thread.run_sync(lambda: svc.verify_qr(text, at=when))
        else:
            return page(request, services, "verify.html", 400, error="请选择要验真的文件，或粘贴二维码内容。")
    except CsrfFailed as exc:
        return page(request, services, "verify.html", 403, error=zh_error(exc), error_code=exc.code)
    except YwtError as exc:
        return page(request, services, "verify.html", status_for(exc), error=exc.detail, error_code=exc.code)
    return page(request, services, "verify.html", **_view(report))


@router.get("/v/seal/{seal_id}.png", response_class=Response)
def seal_image(seal_id: str, services: ServicesDep, session: SessionDep) -> Response:
    """The seal's image (public: it is printed on every document it seals)."""
    return Response(
        services.seal.image_png(session, seal_id[:64]),
        media_type="image/png",
        headers={"Cache-Control": "max-age=3600"},
    )


@router.get("/v/{payload:path}", dependencies=[Depends(VERIFY_LIMIT)], response_class=HTMLResponse)
def qr_landing(payload: str, request: Request, services: ServicesDep) -> HTMLResponse:
    """The page a phone opens from a licence QR code: verdict first, then the licence."""
    try:
        report = verifier(services).verify_qr(payload)
    except YwtError as exc:
        return render(request, "v.html", status_code=status_for(exc), error=exc.detail, error_code=exc.code)
    return render(request, "v.html", **_view(report))
