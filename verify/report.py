"""Verification reports: ETSI EN 319 102-1 indications, sub-indications and per-check results.

A report is data (frozen dataclasses) with a plain-language summary in Chinese first and
English second, because the people reading it are bank clerks and employers, not PKI experts.
The overall indication is derived from the checks so that it can never disagree with them:
any FAILED check makes TOTAL-FAILED, otherwise any INDETERMINATE check makes INDETERMINATE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

BEIJING = timezone(timedelta(hours=8), "CST")
"""China Standard Time: what people reading the reports expect (machine fields stay UTC ISO 8601)."""


def beijing(dt: datetime) -> str:
    return dt.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


class Indication(StrEnum):
    """ETSI EN 319 102-1 §5.1.3 main status indications."""

    TOTAL_PASSED = "TOTAL-PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL-FAILED"


class Sub(StrEnum):
    """ETSI EN 319 102-1 Table 5 sub-indications (the ones this verifier emits)."""

    # with TOTAL-FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # with INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    NO_POE = "NO_POE"
    GENERIC = "GENERIC"


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"
    WARNING = "warning"  # reported, does not change the indication
    SKIPPED = "skipped"  # not applicable


@dataclass(frozen=True)
class Check:
    """One check: ``name`` is a stable slug, ``message`` English, ``message_zh`` Chinese."""

    name: str
    status: Status
    message: str
    message_zh: str = ""
    sub_indication: Sub | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "message_zh": self.message_zh,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
        }


def passed(name: str, en: str, zh: str = "") -> Check:
    return Check(name, Status.PASSED, en, zh)


def failed(name: str, sub: Sub, en: str, zh: str = "") -> Check:
    return Check(name, Status.FAILED, en, zh, sub)


def indeterminate(name: str, sub: Sub, en: str, zh: str = "") -> Check:
    return Check(name, Status.INDETERMINATE, en, zh, sub)


def warning(name: str, en: str, zh: str = "") -> Check:
    return Check(name, Status.WARNING, en, zh)


def skipped(name: str, en: str, zh: str = "") -> Check:
    return Check(name, Status.SKIPPED, en, zh)


def verdict(checks: tuple[Check, ...] | list[Check]) -> tuple[Indication, Sub | None]:
    """The indication implied by the checks: the first FAILED wins, then the first INDETERMINATE."""
    for c in checks:
        if c.status is Status.FAILED:
            return Indication.TOTAL_FAILED, c.sub_indication
    for c in checks:
        if c.status is Status.INDETERMINATE:
            return Indication.INDETERMINATE, c.sub_indication
    return Indication.TOTAL_PASSED, None


VERDICT_ZH = {
    Indication.TOTAL_PASSED: "验证通过：文件真实、完整",
    Indication.INDETERMINATE: "无法确认：请勿仅凭此文件办理业务",
    Indication.TOTAL_FAILED: "验证失败：文件不可信",
}
VERDICT_EN = {
    Indication.TOTAL_PASSED: "Valid: the document is genuine and unaltered",
    Indication.INDETERMINATE: "Cannot be confirmed: do not rely on this document alone",
    Indication.TOTAL_FAILED: "Invalid: the document cannot be trusted",
}


KIND_VERDICT_ZH = {
    "qr": {
        Indication.TOTAL_PASSED: "验证通过：证照真实、当前有效",
        Indication.INDETERMINATE: "无法确认：请勿仅凭此二维码办理业务",
        Indication.TOTAL_FAILED: "验证失败：证照无效或二维码不可信",
    },
    "token": {
        Indication.TOTAL_PASSED: "验证通过：令牌真实有效",
        Indication.INDETERMINATE: "无法确认：令牌签发者或状态无法确认",
        Indication.TOTAL_FAILED: "验证失败：令牌无效",
    },
    "certificate": {
        Indication.TOTAL_PASSED: "验证通过：证书可信且有效",
        Indication.INDETERMINATE: "无法确认：证书无法链接到信任列表或状态未知",
        Indication.TOTAL_FAILED: "验证失败：证书无效",
    },
}
KIND_VERDICT_EN = {
    "qr": {
        Indication.TOTAL_PASSED: "Valid: the licence is genuine and currently valid",
        Indication.INDETERMINATE: "Cannot be confirmed: do not rely on this code alone",
        Indication.TOTAL_FAILED: "Invalid: the licence is not valid or the code is not genuine",
    },
    "token": {
        Indication.TOTAL_PASSED: "Valid: the token is genuine and current",
        Indication.INDETERMINATE: "Cannot be confirmed: issuer or status unknown",
        Indication.TOTAL_FAILED: "Invalid: the token must not be accepted",
    },
    "certificate": {
        Indication.TOTAL_PASSED: "Valid: the certificate is trusted and valid",
        Indication.INDETERMINATE: "Cannot be confirmed: no chain to the trust list, or status unknown",
        Indication.TOTAL_FAILED: "Invalid: the certificate must not be relied on",
    },
}


@dataclass(frozen=True)
class Party:
    """Who a certificate names (no personal identifiers beyond names shown in the cert)."""

    common_name: str
    organization: str | None
    issuer: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    algorithm: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["not_before"] = self.not_before.isoformat()
        d["not_after"] = self.not_after.isoformat()
        return d


@dataclass(frozen=True)
class SealIdentity:
    """What our seal registry says about the seal behind a signing certificate."""

    seal_id: str | None
    name: str
    owner: str | None
    status: str  # active | suspended | revoked | expired | unknown
    status_since: datetime | None = None
    image_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status_since"] = self.status_since.isoformat() if self.status_since else None
        return d


@dataclass(frozen=True)
class SignatureReport:
    """One signature of a PDF (or one SES / certificate / token subject)."""

    field_name: str
    checks: tuple[Check, ...]
    signer: Party | None = None
    seal: SealIdentity | None = None
    signing_time: datetime | None = None  # as claimed by the signer
    timestamp_time: datetime | None = None  # proven by an RFC 3161 token
    coverage: str | None = None
    modification: str | None = None
    algorithm: str | None = None
    revision: int | None = None
    ours: bool = False  # signer chains to one of our own roots: strict policy applies

    @property
    def indication(self) -> Indication:
        return verdict(self.checks)[0]

    @property
    def sub_indication(self) -> Sub | None:
        return verdict(self.checks)[1]

    def summary_zh(self) -> str:
        who = self.seal.name if self.seal else (self.signer.common_name if self.signer else "未知签署者")
        when = self.timestamp_time or self.signing_time
        when_s = f"于 {beijing(when)} " if when else ""
        head = f"「{who}」{when_s}签章：{VERDICT_ZH[self.indication]}"
        bad = [c.message_zh or c.message for c in self.checks if c.status in (Status.FAILED, Status.INDETERMINATE)]
        return head + ("。原因：" + "；".join(bad) if bad else "。")

    def summary_en(self) -> str:
        who = self.seal.name if self.seal else (self.signer.common_name if self.signer else "unknown signer")
        bad = [c.message for c in self.checks if c.status in (Status.FAILED, Status.INDETERMINATE)]
        return f"Signature by {who}: {VERDICT_EN[self.indication]}" + (". Because: " + "; ".join(bad) if bad else ".")

    def as_dict(self) -> dict[str, Any]:
        return {
            "field_name": self.field_name,
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "summary_zh": self.summary_zh(),
            "summary_en": self.summary_en(),
            "signer": self.signer.as_dict() if self.signer else None,
            "seal": self.seal.as_dict() if self.seal else None,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "timestamp_time": self.timestamp_time.isoformat() if self.timestamp_time else None,
            "coverage": self.coverage,
            "modification": self.modification,
            "algorithm": self.algorithm,
            "revision": self.revision,
            "ours": self.ours,
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class DocumentReport:
    """The whole document: document-level checks plus every signature.

    The overall indication is the worst of the document checks and the signatures, so one bad
    signature (or an unexplained appended revision) spoils the verdict.
    """

    kind: str  # "pdf" | "ses" | "certificate" | "qr" | "token"
    sha256: str
    size: int
    validation_time: datetime
    checks: tuple[Check, ...]
    signatures: tuple[SignatureReport, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def _all(self) -> list[Check]:
        out = list(self.checks)
        for s in self.signatures:
            ind, sub = s.indication, s.sub_indication
            if ind is Indication.TOTAL_FAILED:
                out.append(Check(f"signature:{s.field_name}", Status.FAILED, s.summary_en(), s.summary_zh(), sub))
            elif ind is Indication.INDETERMINATE:
                out.append(
                    Check(f"signature:{s.field_name}", Status.INDETERMINATE, s.summary_en(), s.summary_zh(), sub)
                )
        return out

    @property
    def indication(self) -> Indication:
        return verdict(self._all())[0]

    @property
    def sub_indication(self) -> Sub | None:
        return verdict(self._all())[1]

    def summary_zh(self) -> str:
        n = len(self.signatures)
        head = KIND_VERDICT_ZH.get(self.kind, VERDICT_ZH)[self.indication]
        if self.kind == "pdf":
            head += f"（共 {n} 个签章）"
        reasons = [c.message_zh or c.message for c in self.checks if c.status in (Status.FAILED, Status.INDETERMINATE)]
        return head + ("。" + "；".join(reasons) if reasons else "。")

    def summary_en(self) -> str:
        reasons = [c.message for c in self.checks if c.status in (Status.FAILED, Status.INDETERMINATE)]
        head = KIND_VERDICT_EN.get(self.kind, VERDICT_EN)[self.indication]
        if self.kind == "pdf":
            head += f" ({len(self.signatures)} signature(s))"
        return head + (". " + "; ".join(reasons) if reasons else ".")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "summary_zh": self.summary_zh(),
            "summary_en": self.summary_en(),
            "sha256": self.sha256,
            "size": self.size,
            "validation_time": self.validation_time.isoformat(),
            "checks": [c.as_dict() for c in self.checks],
            "signatures": [s.as_dict() for s in self.signatures],
            "details": self.details,
        }
