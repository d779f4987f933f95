"""The part of PDF verification that touches untrusted bytes: parsing, integrity, ByteRange,
coverage, modification analysis, timestamps and path validation — a pure function from
(bytes, trust inputs) to :class:`PdfFacts`, run inside :mod:`verify.sandbox` so that a PDF
bomb costs a bounded amount of CPU and memory and can never take the server with it.

What the facts mean is decided elsewhere (:func:`verify.pdf.decide`), together with the live
registry status that only the parent process can see. Facts are plain picklable data.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import cms, x509

from verify.certs import PathResult, validate_certificate, validation_context
from verify.sandbox import ResourceLimit
from verify.trust import TrustList

MAX_NESTING = 100
MAX_SIGNATURES = 50
_EOF = re.compile(rb"%%EOF[ \t\r\n\x00\x0c]*")
_HEX = re.compile(rb"^[0-9A-Fa-f \t\r\n]*$")


@dataclass(frozen=True)
class PdfInputs:
    """Everything the child needs: the trust list, revocation data from our CA (current CRLs),
    the validation time, and whether it is a point-in-time validation (``--at``)."""

    trust: TrustList
    crls: tuple[bytes, ...]
    at: datetime


@dataclass(frozen=True)
class TimestampFacts:
    time: datetime | None
    intact: bool
    valid: bool
    trusted: bool
    message: str


@dataclass(frozen=True)
class SigFacts:
    field_name: str
    kind: str  # "signature" | "doc-timestamp"
    signed_revision: int
    byte_range: tuple[int, ...]
    byte_range_problem: str | None
    coverage: str | None
    modification_level: str | None
    modification_problem: str | None
    docmdp: str | None
    intact: bool
    valid: bool
    integrity_problem: str | None
    md_algorithm: str | None
    mechanism: str | None
    signer_cert_der: bytes | None = field(repr=False)
    chain_ders: tuple[bytes, ...] = field(repr=False, default=())
    claimed_time: datetime | None = None
    timestamp: TimestampFacts | None = None
    path_now: PathResult | None = None
    path_at_poe: PathResult | None = None
    embedded_revinfo: int = 0


@dataclass(frozen=True)
class PdfFacts:
    size: int
    sha256: str
    parse_problem: str | None
    revisions: int = 0
    trailing_bytes: int = 0
    signatures: tuple[SigFacts, ...] = ()
    certified: bool = False
    #: the analysis itself failed unexpectedly (not the file's fault as far as we know)
    internal_problem: str | None = None


def precheck(data: bytes) -> str | None:
    """Cheap, linear sanity checks before the parser runs: the PDF header within the first
    1024 bytes (ISO 32000-1 §7.5.2, as readers tolerate) and ``%%EOF`` near the end. Returns a
    problem or None."""
    head = data[:1024]
    if b"%PDF-" not in head:
        return "no %PDF- header"
    if b"%%EOF" not in data[-2048:]:
        return "no %%EOF marker at the end of the file"
    return None


_TOKENS = re.compile(rb"[()\\\[\]%\n\r]|<<|>>|stream|endstream")


def nesting_depth(data: bytes, limit: int = MAX_NESTING) -> int:
    """Maximum nesting of arrays and dictionaries outside strings, comments and streams,
    stopping early past ``limit`` — deep nesting makes recursive parsers blow the stack.
    Linear: one regular-expression pass over the structural tokens, stream bodies skipped."""
    depth = best = 0
    string = 0  # literal-string nesting level
    comment = False
    escape_at = -1
    pos = 0
    n = len(data)
    while pos < n:
        m = _TOKENS.search(data, pos)
        if m is None:
            break
        tok, start, pos = m.group(), m.start(), m.end()
        if comment:
            if tok in (b"\n", b"\r"):
                comment = False
            continue
        if string:
            if tok == b"\\":
                escape_at = pos  # the next byte is escaped
                pos += 1
            elif start == escape_at:
                continue
            elif tok == b"(":
                string += 1
            elif tok == b")":
                string -= 1
            continue
        if tok == b"(":
            string = 1
        elif tok == b"%":
            comment = True
        elif tok == b"stream" and (start == 0 or data[start - 1 : start] in b" \r\n\t>"):
            end = data.find(b"endstream", pos)
            pos = n if end < 0 else end + 9
        elif tok in (b"[", b"<<"):
            depth += 1
            if depth > best:
                best = depth
                if best > limit:
                    return best
        elif tok in (b"]", b">>"):
            depth = max(0, depth - 1)
    return best


def _trailing(data: bytes) -> int:
    """Bytes after the last %%EOF (and its end-of-line) that belong to no revision."""
    last = None
    for m in _EOF.finditer(data, max(0, len(data) - 4096)):
        last = m
    if last is None:
        return len(data)
    return len(data) - last.end()


def _byte_range_problem(data: bytes, br: tuple[int, ...], contents: bytes) -> str | None:
    """ISO 32000-1 §12.8.1 / PAdES (ETSI EN 319 142-1 §5.1): the ByteRange covers the whole
    file except the /Contents hex string, which sits exactly in the gap."""
    if len(br) != 4 or any(v < 0 for v in br):
        return f"ByteRange has {len(br)} entries; exactly 4 non-negative integers are required"
    a, la, b, lb = br
    if a != 0:
        return "ByteRange does not start at byte 0"
    if la >= b:
        return "ByteRange ranges overlap or are out of order"
    if b + lb > len(data):
        return f"ByteRange reaches byte {b + lb}, beyond the end of the {len(data)}-byte file"
    gap = data[la:b]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">":
        return "the gap in ByteRange is not exactly the /Contents hex string"
    inner = gap[1:-1]
    if not _HEX.match(inner):
        return "the gap in ByteRange holds bytes other than the signature's hex digits"
    try:
        raw = bytes.fromhex(inner.decode("ascii"))
    except ValueError:
        return "the /Contents hex string in the gap does not decode"
    if not raw.startswith(contents) or raw[len(contents) :].strip(b"\x00"):
        return "the bytes in the ByteRange gap are not the signature the dictionary holds (signature wrapping)"
    return None


def _revinfo(reader: Any, sig: Any) -> tuple[list[bytes], list[bytes], list[x509.Certificate]]:
    """Revocation data shipped with the document: the DSS (PAdES B-LT) and Adobe's
    revocation-info-archival signed attribute inside the CMS."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.errors import NoDSSFoundError

    crls: list[bytes] = []
    ocsps: list[bytes] = []
    certs: list[x509.Certificate] = []
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None
    except Exception:  # a malformed DSS is no validation data, not a reason to fail the file
        dss = None
    if dss is not None:
        try:
            crls += [bytes(ref.get_object().data) for ref in dss.crls]
            ocsps += [bytes(ref.get_object().data) for ref in dss.ocsps]
            for c in dss.certs.values():
                if isinstance(c, x509.Certificate):
                    certs.append(c)
                else:  # a reference to a stream holding the DER certificate
                    obj = c.get_object() if hasattr(c, "get_object") else c
                    certs.append(x509.Certificate.load(bytes(obj.data if hasattr(obj, "data") else obj)))
        except Exception:  # noqa: S110 - keep what was read; the rest of the DSS is unusable
            pass
    return _archival(sig, crls, ocsps, certs)


def _archival(
    sig: Any, crls: list[bytes], ocsps: list[bytes], certs: list[x509.Certificate]
) -> tuple[list[bytes], list[bytes], list[x509.Certificate]]:
    """Adobe's revocation-info-archival signed attribute (revocation data inside the CMS)."""
    try:
        si = sig.signer_info
        for attr in si["signed_attrs"] or []:
            if attr["type"].native == "adobe_revocation_info_archival":
                for val in attr["values"]:
                    crls += [c.dump() for c in val["crl"] or []]
                    ocsps += [o.dump() for o in val["ocsp"] or []]
    except Exception:  # noqa: S110 - a malformed archival attribute carries no usable revocation data
        pass
    return crls, ocsps, certs


def analyse(data: bytes, inputs: PdfInputs) -> PdfFacts:
    """Parse and check every signature. Never raises for a bad PDF: problems become facts."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    sha = hashlib.sha256(data).hexdigest()
    problem = precheck(data)
    if problem is not None:
        return PdfFacts(len(data), sha, problem)
    if nesting_depth(data) > MAX_NESTING:
        raise ResourceLimit(f"objects are nested deeper than {MAX_NESTING} levels")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        revisions = reader.xrefs.total_revisions
        sigs = list(reader.embedded_signatures)
        root = reader.root
        certified = "/Perms" in root and "/DocMDP" in root["/Perms"]
    except PdfError as exc:
        if "limit" in type(exc).__name__.lower():  # pyHanko's decoder bounds (PdfDecodeLimitError)
            raise ResourceLimit(f"a stream inflates beyond the decoder's limit: {str(exc)[:100]}") from exc
        return PdfFacts(len(data), sha, f"the PDF cannot be parsed: {type(exc).__name__}: {str(exc)[:200]}")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError) as exc:
        return PdfFacts(len(data), sha, f"the PDF cannot be parsed: {type(exc).__name__}: {str(exc)[:200]}")
    if len(sigs) > MAX_SIGNATURES:
        return PdfFacts(len(data), sha, f"more than {MAX_SIGNATURES} signatures")
    facts = [_signature(reader, data, s, inputs) for s in sigs]
    return PdfFacts(len(data), sha, None, revisions, _trailing(data), tuple(facts), certified)


def _signature(reader: Any, data: bytes, sig: Any, inputs: PdfInputs) -> SigFacts:
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    name = str(sig.field_name or "")
    kind = "doc-timestamp" if str(sig.sig_object_type) == "/DocTimeStamp" else "signature"
    try:
        br = tuple(int(v) for v in sig.byte_range)
    except (TypeError, ValueError):
        br = ()
    try:
        contents = bytes(sig.pkcs7_content)
    except (TypeError, ValueError, KeyError):
        contents = b""
    br_problem = _byte_range_problem(data, br, contents)
    try:
        signer = sig.signer_cert
        signer_der: bytes | None = bytes(signer.dump())
        others = list(sig.other_embedded_certs)
    except Exception:  # no signer certificate, or a CMS pyHanko cannot read
        signer, signer_der, others = None, None, []
    crls, ocsps, dss_certs = _revinfo(reader, sig)
    extra = [*others, *dss_certs]
    play = [c for c in (signer, *extra, *_tst_certs(sig)) if c is not None]
    relevant = _relevant_crls([*inputs.crls, *crls], play, inputs.trust)
    # One context (hard-fail revocation) for pyHanko's checks and ours: certvalidator caches the
    # paths and CRL issuers it has validated, so the signer's chain is validated once.
    vc = validation_context(
        inputs.trust,
        at=inputs.at,
        other_certs=extra,
        crls=relevant,
        ocsps=ocsps,
        revocation="hard-fail",
    )
    intact = valid = False
    integrity_problem: str | None = None
    coverage = level = mod_problem = docmdp = md = mech = None
    ts: TimestampFacts | None = None
    claimed: datetime | None = None
    try:
        if kind == "doc-timestamp":
            status: Any = validate_pdf_timestamp(sig, validation_context=vc)
        else:
            status = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc)
        intact, valid = bool(status.intact), bool(status.valid)
        coverage = status.coverage.name if status.coverage is not None else None
        md = getattr(status, "md_algorithm", None)
        mech = getattr(status, "pkcs7_signature_mechanism", None)
        diff = getattr(status, "diff_result", None)
        if diff is not None:
            lvl = getattr(diff, "modification_level", None)
            level = lvl.name if lvl is not None else "OTHER"
            if not hasattr(diff, "modification_level"):
                mod_problem = str(diff)[:300]
        dm = getattr(status, "docmdp_ok", None)
        docmdp = None if dm is None else ("ok" if dm else "violated")
        claimed = getattr(status, "signer_reported_dt", None)
        tsv = getattr(status, "timestamp_validity", None)
        if kind == "doc-timestamp":
            ts = TimestampFacts(status.timestamp, intact, valid, bool(status.trusted), "document timestamp")
        elif tsv is not None:
            ts = TimestampFacts(
                tsv.timestamp,
                bool(tsv.intact),
                bool(tsv.valid),
                bool(tsv.trusted),
                "the signature timestamp is sound and its TSA is trusted"
                if tsv.intact and tsv.valid and tsv.trusted
                else "the signature timestamp does not verify or its TSA is not trusted",
            )
    except Exception as exc:  # pyHanko raises many types for malformed CMS/PDF structures
        integrity_problem = f"{type(exc).__name__}: {str(exc)[:300]}"
    path_now = path_poe = None
    if signer is not None:
        cert_kw: dict[str, Any] = {
            "trust": inputs.trust,
            "intermediates": extra,
            "crls": relevant,
            "ocsps": ocsps,
            "revocation": "hard-fail",
        }
        path_now = validate_certificate(signer, at=inputs.at, context=vc, **cert_kw)
        poe = ts.time if ts is not None and ts.intact and ts.valid and ts.trusted else None
        if poe is not None and not path_now.trusted:
            # ETSI EN 319 102-1 §5.5: the timestamp proves the signature existed at ``poe``;
            # validate as of then, using revocation data issued since (retroactively).
            path_poe = validate_certificate(signer, at=poe, retroactive_revinfo=True, **cert_kw)
    chain = tuple(bytes(c.dump()) for c in others)
    return SigFacts(
        name,
        kind,
        int(sig.signed_revision),
        br,
        br_problem,
        coverage,
        level,
        mod_problem,
        docmdp,
        intact,
        valid,
        integrity_problem,
        md,
        mech,
        signer_der,
        chain,
        claimed,
        ts,
        path_now,
        path_poe,
        len(crls) + len(ocsps),
    )


def _tst_certs(sig: Any) -> list[x509.Certificate]:
    """Certificates inside the signature timestamp token (the TSA's chain)."""
    try:
        for attr in sig.signer_info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                sd = attr["values"][0]["content"]
                return [c.chosen for c in sd["certificates"] or [] if c.name == "certificate"]
    except (KeyError, ValueError, TypeError, IndexError):
        pass
    return []


def _relevant_crls(crls: list[bytes], certs: list[x509.Certificate], trust: TrustList) -> list[bytes]:
    """Only the CRLs issued by a CA on the paths in play (the signer's and the TSA's): the
    validator checks every CRL it is given, and each costs a path validation of its issuer."""
    by_subject: dict[bytes, x509.Certificate] = {}
    for c in (*trust.intermediate_certs(), *trust.root_certs(), *certs):
        by_subject.setdefault(c.subject.dump(), c)
    wanted: set[bytes] = set()
    todo = [c.issuer.dump() for c in certs]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        ca = by_subject.get(name)
        if ca is not None and ca.issuer.dump() != name:
            todo.append(ca.issuer.dump())
    out = []
    for der in crls:
        try:
            from asn1crypto import crl as asn1crl

            if asn1crl.CertificateList.load(der)["tbs_cert_list"]["issuer"].dump() in wanted:
                out.append(der)
        except (ValueError, TypeError, KeyError):
            continue
    return out


def signer_info_of(contents: bytes) -> cms.SignerInfo:
    """First SignerInfo of a CMS blob (used by tests and the SM2 peer check)."""
    ci = cms.ContentInfo.load(contents)
    return ci["content"]["signer_infos"][0]
