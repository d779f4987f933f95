"""PDF verification: what the facts from :mod:`verify.pdfcore` mean, under ETSI EN 319 102-1
and our policy for our own seals and licences.

Policy (stricter than pyHanko's defaults and poppler's ``pdfsig``; STANDARDS.md "PDF signatures"):

* An unparseable file, a broken ByteRange, a /Contents that is not the signature in the gap
  (signature wrapping) or a failed digest/signature: TOTAL-FAILED (FORMAT_FAILURE, HASH_FAILURE,
  SIG_CRYPTO_FAILURE).
* Changes after signing that alter content (pages added/removed, content streams replaced,
  anything pyHanko's difference analysis cannot explain): TOTAL-FAILED/FORMAT_FAILURE — the
  document a reader shows is not the one that was signed. (pdfsig reports these signatures as
  "Valid" with "Total document signed" missing; ETSI has no sub-indication specific to
  incremental updates, so FORMAT_FAILURE — the PAdES container no longer protects what is shown.)
* Bytes appended after the last revision, and, for signatures chaining to our roots, any later
  revision that is not another signature or validation data (DSS, document timestamps):
  INDETERMINATE/SIG_CONSTRAINTS_FAILURE. The last signature must cover the whole file.
* Time (§5.5): with a trusted signature timestamp the certificate is judged as of the
  timestamp; a certificate revoked *after* the timestamp still passes (the timestamp is the
  proof of existence), one revoked *before* it fails (TOTAL-FAILED/REVOKED); without a
  timestamp a revoked certificate gives INDETERMINATE/REVOKED_NO_POE and an expired one
  INDETERMINATE/OUT_OF_BOUNDS_NO_POE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import x509

from verify import report as r
from verify.pdfcore import PdfFacts, PdfInputs, SigFacts
from verify.report import Check, DocumentReport, Party, SealIdentity, SignatureReport, Sub


@dataclass(frozen=True)
class RegistryStatus:
    """What our own registries say about a signing certificate (live, in-process)."""

    seal: SealIdentity | None
    revoked_at: datetime | None = None  # from the CA records: also for certificates past expiry


class SealRegistry(Protocol):
    """Seam to seal/ (and, before it lands, the CA records): seal identity and live status."""

    def lookup(self, cert_der: bytes) -> RegistryStatus | None: ...


def party(cert_der: bytes) -> Party:
    cert = x509.Certificate.load(cert_der)
    subj = cert.subject.native
    alg = cert["signature_algorithm"]["algorithm"].native
    return Party(
        common_name=str(subj.get("common_name", "")),
        organization=str(subj["organization_name"]) if "organization_name" in subj else None,
        issuer=str(cert.issuer.human_friendly),
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(cert_der).hexdigest(),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        algorithm=str(alg),
    )


def _fmt(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "?"


def _integrity(f: SigFacts) -> Check:
    if f.integrity_problem is not None:
        return r.failed(
            "integrity",
            Sub.FORMAT_FAILURE,
            f"the signature container cannot be read: {f.integrity_problem}",
            "签名数据结构损坏，无法读取",
        )
    if not f.intact:
        return r.failed(
            "integrity",
            Sub.HASH_FAILURE,
            "the signed bytes do not match the digest in the signature: the document was altered",
            "文件内容与签名摘要不符：文件已被篡改",
        )
    if not f.valid:
        return r.failed(
            "integrity",
            Sub.SIG_CRYPTO_FAILURE,
            "the cryptographic signature does not verify with the signer's certificate",
            "签名值无法用签章证书验证",
        )
    alg = f"{f.mechanism or '?'} / {f.md_algorithm or '?'}"
    return r.passed("integrity", f"the signature is cryptographically sound ({alg})", f"签名完整有效（{alg}）")


def _time_checks(f: SigFacts, reg: RegistryStatus | None) -> list[Check]:
    """Chain, validity and revocation, with the timestamp as proof of existence (§5.5)."""
    out: list[Check] = []
    now = f.path_now
    ts = f.timestamp
    poe = ts.time if ts is not None and ts.intact and ts.valid and ts.trusted else None
    if now is None:
        return [
            r.indeterminate(
                "certificate",
                Sub.NO_SIGNING_CERTIFICATE_FOUND,
                "the signature names no signing certificate",
                "签名中没有签章证书",
            )
        ]
    revoked_at = now.revoked_at or (f.path_at_poe.revoked_at if f.path_at_poe else None)
    if revoked_at is None and reg is not None:
        revoked_at = reg.revoked_at
    if now.trusted and revoked_at is None:
        out.append(r.passed("chain", "the signer's certificate chains to the trust list", "签章证书由受信任的机构签发"))
        out.append(r.passed("revocation", "the certificate is not revoked", "签章证书未被吊销"))
        return out
    if now.sub is Sub.NO_CERTIFICATE_CHAIN_FOUND:
        return [
            r.indeterminate(
                "chain",
                Sub.NO_CERTIFICATE_CHAIN_FOUND,
                "the signer's certificate does not chain to any issuer on the trust list",
                "签章证书不是由受信任的机构签发（未知签发者）",
            )
        ]
    if revoked_at is not None:
        out.append(r.passed("chain", "the signer's certificate chains to the trust list", "签章证书由受信任的机构签发"))
        if poe is None:
            out.append(
                r.indeterminate(
                    "revocation",
                    Sub.REVOKED_NO_POE,
                    f"the certificate was revoked at {_fmt(revoked_at)} and nothing proves the signature is older"
                    " (no signature timestamp)",
                    f"签章证书已于 {_fmt(revoked_at)} 吊销，且无时间戳证明签章早于吊销",
                )
            )
        elif poe == revoked_at:
            out.append(
                r.indeterminate(
                    "revocation",
                    Sub.REVOKED_NO_POE,
                    f"the certificate was revoked at {_fmt(revoked_at)}, the very second of the timestamp:"
                    " the order cannot be proven",
                    f"证书吊销时间与时间戳同为 {_fmt(revoked_at)}，无法证明签章早于吊销",
                )
            )
        elif poe > revoked_at:
            out.append(
                r.failed(
                    "revocation",
                    Sub.REVOKED,
                    f"the certificate was revoked at {_fmt(revoked_at)}, before the timestamp {_fmt(poe)}",
                    f"签章时证书已被吊销（吊销时间 {_fmt(revoked_at)}，签章时间 {_fmt(poe)}）",
                )
            )
        elif f.path_at_poe is not None and not f.path_at_poe.trusted and not f.path_at_poe.revoked:
            out.append(
                r.indeterminate(
                    "revocation",
                    f.path_at_poe.sub or Sub.GENERIC,
                    f"as of the timestamp: {f.path_at_poe.message}",
                    "按时间戳时间验证证书未通过",
                )
            )
        else:
            out.append(
                r.passed(
                    "revocation",
                    f"the certificate was revoked at {_fmt(revoked_at)}, after the timestamp {_fmt(poe)} proves the"
                    " signature existed: the signature stays valid (ETSI EN 319 102-1 §5.5)",
                    f"证书于 {_fmt(revoked_at)} 吊销，但时间戳证明签章形成于 {_fmt(poe)}（吊销之前），签章仍然有效",
                )
            )
        return out
    if now.expired or now.not_yet_valid:
        out.append(r.passed("chain", "the signer's certificate chains to the trust list", "签章证书由受信任的机构签发"))
        if poe is not None and f.path_at_poe is not None and f.path_at_poe.trusted:
            out.append(
                r.passed(
                    "validity",
                    f"the certificate is outside its validity now, but was valid at the timestamp {_fmt(poe)}",
                    f"证书现已过期，但签章时（{_fmt(poe)}）有效",
                )
            )
        elif now.expired:
            out.append(
                r.indeterminate(
                    "validity",
                    Sub.OUT_OF_BOUNDS_NO_POE,
                    "the certificate has expired and no timestamp proves the signature was made while it was valid",
                    "签章证书已过期，且无时间戳证明签章时证书有效",
                )
            )
        else:
            out.append(
                r.indeterminate("validity", Sub.NOT_YET_VALID, "the certificate is not yet valid", "签章证书尚未生效")
            )
        return out
    if poe is not None and f.path_at_poe is not None and f.path_at_poe.trusted:
        out.append(
            r.passed(
                "chain", f"the certificate chain is valid as of the timestamp {_fmt(poe)}", "按时间戳时间证书链有效"
            )
        )
        return out
    return [
        r.indeterminate(
            "chain",
            now.sub or Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE,
            now.message[:300],
            "签章证书链无法验证" + ("（暂时无法取得吊销信息，请稍后再试）" if now.sub is Sub.TRY_LATER else ""),
        )
    ]


def _timestamp(f: SigFacts) -> Check:
    ts = f.timestamp
    if ts is None:
        return r.skipped("timestamp", "no signature timestamp (PAdES B-B)", "无时间戳（PAdES B-B 级）")
    if not (ts.intact and ts.valid):
        return r.failed(
            "timestamp",
            Sub.SIG_CRYPTO_FAILURE,
            "the signature timestamp does not verify",
            "时间戳无法验证（可能被篡改）",
        )
    if not ts.trusted:
        return r.indeterminate(
            "timestamp", Sub.NO_POE, "the timestamp authority is not on the trust list", "时间戳机构不受信任"
        )
    return r.passed("timestamp", f"timestamped at {_fmt(ts.time)} by a trusted TSA", f"可信时间戳：{_fmt(ts.time)}")


def _modifications(f: SigFacts, last: bool, ours: bool, later_sig: bool) -> Check:
    if f.byte_range_problem is None and f.coverage == "ENTIRE_FILE":
        return r.passed("modifications", "the signature covers the whole file", "签章覆盖整个文件，签章后无任何改动")
    if f.coverage in ("UNCLEAR", "CONTIGUOUS_BLOCK_FROM_START", None):
        return r.failed(
            "modifications",
            Sub.FORMAT_FAILURE,
            f"the signed byte range does not cover a complete revision (coverage {f.coverage})",
            "签名范围不完整，文件中有未受签名保护的部分",
        )
    level = f.modification_level
    if f.modification_problem is not None or level == "OTHER":
        why = f.modification_problem or "changes that are not form filling, annotations or signing"
        return r.failed(
            "modifications",
            Sub.FORMAT_FAILURE,
            f"the document was changed after this signature: {why}",
            "签章后文件内容被修改（如页面增删、内容替换）",
        )
    if level in (None, "NONE", "LTA_UPDATES"):
        return r.passed(
            "modifications",
            "later revisions only add validation data or timestamps",
            "签章后仅追加了验证数据或时间戳",
        )
    if level == "FORM_FILLING" and later_sig:
        return r.passed("modifications", "later revisions add further signatures", "签章后仅追加了其他签章")
    msg = f"a later revision adds {level.lower().replace('_', ' ')} not covered by any signature"
    if ours:
        return r.indeterminate(
            "modifications", Sub.SIG_CONSTRAINTS_FAILURE, msg, "签章后文件被追加了未经签章的修改（批注或表单）"
        )
    return r.warning("modifications", msg, "签章后文件被追加了批注或表单内容")


def _key_usage(cert_der: bytes) -> Check:
    cert = x509.Certificate.load(cert_der)
    ku = cert.key_usage_value
    usages = set(ku.native) if ku is not None else set()
    if ku is None or usages & {"digital_signature", "non_repudiation"}:
        return r.passed("key-usage", "the certificate may sign documents", "证书用途允许签章")
    return r.indeterminate(
        "key-usage",
        Sub.CHAIN_CONSTRAINTS_FAILURE,
        f"the certificate's key usage ({', '.join(sorted(usages))}) does not allow signing documents",
        "证书用途不允许签署文件",
    )


def _seal_status(reg: RegistryStatus | None, ours: bool, poe: datetime | None) -> Check:
    if reg is None or reg.seal is None:
        if ours:
            return r.warning("seal-status", "the certificate is not in our seal registry", "印章登记中未找到此签章证书")
        return r.skipped("seal-status", "issued outside this platform: no registry status", "非本平台签发，无印章状态")
    seal = reg.seal
    if seal.status == "active":
        return r.passed("seal-status", f"seal '{seal.name}' is active in the registry", f"印章「{seal.name}」状态正常")
    since = seal.status_since
    zh = {"suspended": "已挂失/暂停", "revoked": "已注销", "expired": "已过期"}.get(seal.status, seal.status)
    if since is not None and poe is not None and poe < since:
        return r.warning(
            "seal-status",
            f"seal '{seal.name}' is {seal.status} since {_fmt(since)}, after this signature ({_fmt(poe)})",
            f"印章「{seal.name}」于 {_fmt(since)} {zh}，晚于本次签章时间",
        )
    if since is not None and poe is not None:
        return r.failed(
            "seal-status",
            Sub.REVOKED,
            f"seal '{seal.name}' was {seal.status} at {_fmt(since)}, before this signature ({_fmt(poe)})",
            f"签章时印章「{seal.name}」已{zh}",
        )
    return r.indeterminate(
        "seal-status",
        Sub.REVOKED_NO_POE,
        f"seal '{seal.name}' is {seal.status}"
        + (f" since {_fmt(since)}" if since else "")
        + "; no timestamp proves an earlier signature",
        f"印章「{seal.name}」{zh}，且无时间戳证明签章早于此",
    )


def decide(
    facts: PdfFacts,
    inputs: PdfInputs,
    lookup: Callable[[bytes], RegistryStatus | None],
) -> DocumentReport:
    """Turn facts into the ETSI report (see the module docstring for the policy)."""
    doc: list[Check] = []
    if facts.internal_problem is not None:
        doc.append(
            r.indeterminate(
                "parse",
                Sub.GENERIC,
                f"the document could not be analysed: {facts.internal_problem[:200]}",
                "文件无法完成核验（未能解析其中的签名结构）",
            )
        )
        return DocumentReport("pdf", facts.sha256, facts.size, inputs.at, tuple(doc))
    if facts.parse_problem is not None:
        doc.append(
            r.failed("parse", Sub.FORMAT_FAILURE, f"not a valid PDF: {facts.parse_problem}", "文件格式损坏，无法解析")
        )
        return DocumentReport("pdf", facts.sha256, facts.size, inputs.at, tuple(doc))
    doc.append(r.passed("parse", f"PDF with {facts.revisions} revision(s)", f"PDF 文件，共 {facts.revisions} 个版本"))
    sigs = sorted(facts.signatures, key=lambda s: s.signed_revision)
    if not sigs:
        doc.append(
            r.indeterminate(
                "signatures", Sub.SIGNED_DATA_NOT_FOUND, "the document carries no signature", "文件没有任何签章"
            )
        )
    reports: list[SignatureReport] = []
    ours_any = False
    for i, f in enumerate(sigs):
        last = i == len(sigs) - 1
        later_sig = not last
        reg = lookup(f.signer_cert_der) if f.signer_cert_der else None
        anchor = f.path_now.anchor_sha256 if f.path_now else None
        ours = anchor in inputs.trust.ours or (reg is not None and reg.seal is not None)
        ours_any = ours_any or ours
        poe = (
            f.timestamp.time
            if f.timestamp and f.timestamp.intact and f.timestamp.valid and f.timestamp.trusted
            else None
        )
        checks: list[Check] = []
        checks.append(
            r.failed("byte-range", Sub.FORMAT_FAILURE, f.byte_range_problem, "签名字节范围异常（可能是签名包装攻击）")
            if f.byte_range_problem
            else r.passed("byte-range", f"ByteRange {list(f.byte_range)} is well formed", "签名字节范围正常")
        )
        checks.append(_integrity(f))
        if f.kind == "signature":
            checks += _time_checks(f, reg)
            if f.signer_cert_der:
                checks.append(_key_usage(f.signer_cert_der))
        checks.append(_timestamp(f))
        checks.append(_modifications(f, last, ours, later_sig))
        if f.kind == "signature":
            checks.append(_seal_status(reg, ours, poe))
        reports.append(
            SignatureReport(
                field_name=f.field_name,
                checks=tuple(checks),
                signer=party(f.signer_cert_der) if f.signer_cert_der else None,
                seal=reg.seal if reg else None,
                signing_time=f.claimed_time,
                timestamp_time=f.timestamp.time if f.timestamp else None,
                coverage=f.coverage,
                modification=f.modification_level,
                algorithm=f"{f.mechanism}/{f.md_algorithm}" if f.mechanism else None,
                revision=f.signed_revision,
                ours=ours,
            )
        )
    if facts.trailing_bytes:
        doc.append(
            r.indeterminate(
                "appended-data",
                Sub.SIG_CONSTRAINTS_FAILURE,
                f"{facts.trailing_bytes} bytes were appended after the end of the last revision",
                f"文件末尾被追加了 {facts.trailing_bytes} 字节未受签名保护的数据",
            )
        )
    if sigs:
        final = sigs[-1]
        whole = final.coverage == "ENTIRE_FILE" or (
            final.coverage == "ENTIRE_REVISION" and final.modification_level in ("NONE", "LTA_UPDATES")
        )
        if whole and not facts.trailing_bytes:
            doc.append(r.passed("whole-file", "the last signature covers the whole file", "最后一个签章覆盖整个文件"))
        elif ours_any:
            doc.append(
                r.indeterminate(
                    "whole-file",
                    Sub.SIG_CONSTRAINTS_FAILURE,
                    "the last signature does not cover the whole file (required for documents sealed on this platform)",
                    "最后一个签章未覆盖整个文件（本平台签章文件必须整体受保护）",
                )
            )
        else:
            doc.append(
                r.warning(
                    "whole-file", "the last signature does not cover the whole file", "最后一个签章未覆盖整个文件"
                )
            )
    return DocumentReport(
        "pdf",
        facts.sha256,
        facts.size,
        inputs.at,
        tuple(doc),
        tuple(reports),
        {"revisions": facts.revisions, "certified": facts.certified, "trailing_bytes": facts.trailing_bytes},
    )
