"""Licence QR codes: the signature offline against the trust list, then the live status.

The token format and its offline check belong to license/ (:func:`license.qr.verify_payload`);
this module decides what a verifier tells a person. Bad *input* (not a licence code at all:
truncated, not a JWS, another kind of token) is a 400 problem; a code that parses but whose
signature or signer does not hold is a *verdict*: a forged code must be reported as forged.

Verdicts (ETSI EN 319 102-1 vocabulary, applied to the code):

=================  =========================================================
signature broken   TOTAL-FAILED / SIG_CRYPTO_FAILURE  (altered or forged code)
unknown signer     INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND
valid              TOTAL-PASSED
expired            TOTAL-FAILED / EXPIRED
revoked            TOTAL-FAILED / REVOKED
superseded         TOTAL-FAILED / REVOKED (reason superseded: a corrected version exists)
suspended          INDETERMINATE / TRY_LATER (may be lifted)
not in registry    INDETERMINATE / GENERIC
data mismatch      TOTAL-FAILED / HASH_FAILURE (registry holds other data for this id)
not checked        INDETERMINATE / TRY_LATER (offline: no registry at hand)
=================  =========================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from license.errors import InvalidQrPayload
from license.qr import LicenseStatus, LiveStatus, QrClaims, payload_from_text, verify_payload
from verify import report as r
from verify.errors import BadQrPayload
from verify.report import Check, DocumentReport, Sub
from verify.trust import TrustList

INPUT_REASONS = frozenset({"malformed", "too_long", "wrong_type", "unsupported_alg"})
MAX_TEXT = 4096

_STATUS_ZH = {
    LicenseStatus.VALID: "有效",
    LicenseStatus.SUSPENDED: "已暂停",
    LicenseStatus.REVOKED: "已注销/吊销",
    LicenseStatus.SUPERSEDED: "已被新版本替代",
    LicenseStatus.EXPIRED: "已过期",
    LicenseStatus.UNKNOWN: "未登记",
}


def payload_of(text: str) -> str:
    """The token from scanned text (a ``…/v/{payload}`` URL or the bare token); bounded."""
    if not isinstance(text, str) or not text.strip():
        raise BadQrPayload("the QR text is empty")
    if len(text) > MAX_TEXT:
        raise BadQrPayload(f"QR text is limited to {MAX_TEXT} characters")
    return payload_from_text(text)


def _status_check(live: LiveStatus, claims: QrClaims) -> Check:
    st = live.status
    zh = _STATUS_ZH.get(st, st.value)
    if st is LicenseStatus.UNKNOWN:
        return r.indeterminate(
            "live-status", Sub.GENERIC, "the registry holds no licence with this identifier", "证照登记中查无此证照"
        )
    if not live.matches(claims):
        return r.failed(
            "live-status",
            Sub.HASH_FAILURE,
            "the registry holds different data for this identifier than the code was signed for",
            "二维码内容与登记的证照数据不一致",
        )
    if st is LicenseStatus.VALID:
        return r.passed("live-status", "the licence is valid in the registry", "证照状态：有效")
    if st is LicenseStatus.SUSPENDED:
        return r.indeterminate("live-status", Sub.TRY_LATER, "the licence is suspended", f"证照状态：{zh}")
    if st is LicenseStatus.EXPIRED:
        return r.failed("live-status", Sub.EXPIRED, "the licence has expired", f"证照状态：{zh}")
    extra = f" (current version {live.current_identifier})" if st is LicenseStatus.SUPERSEDED else ""
    return r.failed("live-status", Sub.REVOKED, f"the licence is {st.value}{extra}", f"证照状态：{zh}")


def verify_text(
    text: str,
    trust: TrustList,
    at: datetime,
    live: Callable[[str], LiveStatus] | None,
) -> DocumentReport:
    """Verify a scanned licence code; ``live`` looks the identifier up (None when offline)."""
    token = payload_of(text)
    digest = hashlib.sha256(token.encode()).hexdigest()
    details: dict[str, Any] = {}
    checks: list[Check] = []
    try:
        claims = verify_payload(token, trust.qr_pool(), at=at)
    except InvalidQrPayload as exc:
        if exc.reason in INPUT_REASONS:
            raise BadQrPayload(exc.detail, reason=exc.reason) from exc
        if exc.reason in ("unknown_signer", "untrusted_signer"):
            checks.append(
                r.indeterminate(
                    "signature",
                    Sub.NO_CERTIFICATE_CHAIN_FOUND,
                    f"the code's signer is not on the trust list: {exc.detail}",
                    "二维码签发者不在信任列表中，无法确认真伪",
                )
            )
        elif exc.reason == "bad_claims":
            checks.append(r.failed("signature", Sub.FORMAT_FAILURE, exc.detail, "二维码内容不合规范"))
        else:
            checks.append(
                r.failed("signature", Sub.SIG_CRYPTO_FAILURE, exc.detail, "二维码签名无效：二维码被篡改或伪造")
            )
        return DocumentReport("qr", digest, len(token), at, tuple(checks), details=details)
    checks.append(
        r.passed(
            "signature",
            f"signed by {claims.signer_subject} on {claims.signed_at.isoformat()}",
            "二维码签名有效（由本平台签发）",
        )
    )
    details["licence"] = {
        "identifier": claims.identifier,
        "holder": claims.holder_masked,
        "valid_from": claims.valid_from.isoformat(),
        "valid_to": claims.valid_to.isoformat() if claims.valid_to else None,
        "signed_at": claims.signed_at.isoformat(),
        "type_code": claims.type_code,
        "issuer_code": claims.issuer_code,
        "version": claims.version,
    }
    if live is None:
        checks.append(
            r.indeterminate(
                "live-status",
                Sub.TRY_LATER,
                "the live status was not checked (offline): the licence may have been revoked",
                "离线核验：签名真实，但未能查询证照当前状态",
            )
        )
    else:
        status = live(claims.identifier)
        checks.append(_status_check(status, claims))
        details["licence"].update(
            {
                "status": status.status.value,
                "status_zh": _STATUS_ZH.get(status.status, status.status.value),
                "type_name": status.type_name,
                "issuer_name": status.issuer_name,
                "number": status.number,
                "status_changed_at": status.status_changed_at.isoformat() if status.status_changed_at else None,
                "current_identifier": status.current_identifier,
            }
        )
        if claims.expired_on(at.date()) and status.status is LicenseStatus.VALID:
            checks.append(r.failed("validity", Sub.EXPIRED, "the licence's validity has ended", "证照已过有效期"))
    return DocumentReport("qr", digest, len(token), at, tuple(checks), details=details)
