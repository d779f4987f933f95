"""Verification of GB/T 38540 / GM/T 0031 blobs against our own PKI.

:func:`verify_ses_blob` is what ``POST /seal/v1/ses/verify``, the ``ywt seal ses-verify`` CLI and
the verify/ package call. It wires the pure checks of :mod:`seal.ses` to:

* SM2-with-SM3 verification through :func:`keys.verify` (default distinguishing ID);
* certificate status from ca/: the issuer must be one of our CAs (signature checked with its
  key), the chain must reach our root, every certificate must be valid at the time in question,
  and revocation comes from the CA's own records (what CRL and OCSP publish); a certificate on
  hold is INDETERMINATE / TRY_LATER as ETSI EN 319 102-1 §5.2.5 asks for suspended ones;
* RFC 3161 timestamps: imprint over the signature value, the TSA's signature over the signed
  attributes, and the TSA certificate via the same certificate check at ``genTime``.

Issuers outside our PKI (another city's seal maker, the national platform) are reported as
NO_CERTIFICATE_CHAIN_FOUND here; verify/ adds the external trust list on top.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Protocol

from asn1crypto import cms, tsp, x509
from sqlmodel import Session

from keys import KeyFormatError, SignatureScheme, normalize_spki, verify
from seal.errors import MalformedSes
from seal.ses import (
    CertCheck,
    CheckStatus,
    SesReport,
    TimestampCheck,
    parse_seal,
    parse_signature,
    verify_seal,
    verify_signature,
)

__all__ = ["CaLike", "SesVerifyDeps", "check_certificate", "check_timestamp", "verify_ses_blob"]


class CaLike(Protocol):
    def list_cas(self, session: Session) -> list[Any]: ...

    def get_certificate(self, session: Session, serial: str) -> Any: ...


class _DbLike(Protocol):
    def session(self) -> Any: ...


class SesVerifyDeps(Protocol):
    """What verification needs from the service container (``Services`` fits)."""

    @property
    def db(self) -> _DbLike: ...

    @property
    def ca(self) -> CaLike: ...


def _sm2_verify(cert_der: bytes, data: bytes, signature: bytes) -> bool:
    try:
        spki = x509.Certificate.load(cert_der).public_key.dump()
        return verify(spki, SignatureScheme.SM2_SM3, data, signature)
    except (ValueError, TypeError, KeyFormatError):
        return False


def _signed_by(cert: x509.Certificate, issuer_der: bytes) -> bool:
    """Does the issuer's key verify ``cert``'s signature over the TBS as received?"""
    try:
        issuer = x509.Certificate.load(issuer_der)
        algo = cert["signature_algorithm"]
        params_hash = None
        if algo["algorithm"].dotted == "1.2.840.113549.1.1.10":
            params_hash = algo["parameters"]["hash_algorithm"]["algorithm"].native
        scheme = SignatureScheme.from_x509_oid(algo["algorithm"].dotted, params_hash)
        _, spki = normalize_spki(issuer.public_key.dump())
        return verify(spki, scheme, cert["tbs_certificate"].dump(), cert["signature_value"].native)
    except (KeyError, ValueError, TypeError, KeyFormatError):
        return False


def _within(cert: x509.Certificate, at: datetime) -> str | None:
    if at < cert.not_valid_before:
        return "NOT_YET_VALID"
    if at > cert.not_valid_after:
        return "EXPIRED"
    return None


def check_certificate(
    session: Session, ca: CaLike, cert_der: bytes, at: datetime, *, purpose: str = "signing"
) -> CertCheck:
    """Chain to one of our roots, validity at ``at``, revocation from the CA's records."""
    try:
        cert = x509.Certificate.load(cert_der)
        cert.native  # noqa: B018 - parse everything now, not half-way through the checks
    except (ValueError, TypeError):
        return CertCheck.failed("the certificate cannot be parsed", "FORMAT_FAILURE")
    cas = ca.list_cas(session)
    by_id = {c.id: c for c in cas}
    issuer = next(
        (c for c in cas if x509.Certificate.load(c.cert_der).subject == cert.issuer and _signed_by(cert, c.cert_der)),
        None,
    )
    if issuer is None:
        return CertCheck.failed("the certificate was not issued by a CA of this platform", "NO_CERTIFICATE_CHAIN_FOUND")
    problem = _within(cert, at)
    if problem:
        return CertCheck.failed(f"the certificate is not valid at {at.isoformat()} ({problem})", problem)
    node = issuer
    while True:
        node_cert = x509.Certificate.load(node.cert_der)
        if _within(node_cert, at):
            return CertCheck.failed(f"CA {node.id} is not valid at {at.isoformat()}", "CHAIN_CONSTRAINTS_FAILURE")
        if node.parent_id is None:
            break
        parent = by_id.get(node.parent_id)
        if parent is None or not _signed_by(node_cert, parent.cert_der):
            return CertCheck.failed(f"CA {node.id} does not chain to a root", "NO_CERTIFICATE_CHAIN_FOUND")
        node = parent
    usage = cert.key_usage_value.native if cert.key_usage_value is not None else []
    if purpose == "signing" and not ({"digital_signature", "non_repudiation"} & set(usage)):
        return CertCheck.failed("the certificate may not sign (key usage)", "SIG_CONSTRAINTS_FAILURE")
    if purpose == "timestamping":
        eku = cert.extended_key_usage_value.native if cert.extended_key_usage_value is not None else []
        if "time_stamping" not in eku:
            return CertCheck.failed(
                "the certificate is not a TSA certificate (RFC 3161 §2.3)", "SIG_CONSTRAINTS_FAILURE"
            )
    try:
        record = ca.get_certificate(session, format(cert.serial_number, "x"))
    except Exception:  # a certificate signed by our CA that our records do not know
        return CertCheck.indeterminate("the issuing CA has no record of this certificate", "TRY_LATER")
    if record.status == "revoked" and record.revoked_at is not None and record.revoked_at <= at:
        if record.revocation_reason == "certificate_hold":
            return CertCheck.indeterminate(
                f"the certificate is on hold (suspended) since {record.revoked_at.isoformat()}", "TRY_LATER"
            )
        return CertCheck.failed(
            f"the certificate was revoked at {record.revoked_at.isoformat()} ({record.revocation_reason})", "REVOKED"
        )
    return CertCheck.passed(f"issued by {issuer.id}, chains to {node.id}, not revoked")


def check_timestamp(session: Session, ca: CaLike, token_der: bytes, signature_value: bytes) -> TimestampCheck:
    """RFC 3161 §2.4.2 token over ``signature_value``: imprint, TSA signature, TSA certificate."""
    try:
        info = cms.ContentInfo.load(token_der)
        signed = info["content"]
        tst = signed["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            tst = tsp.TSTInfo.load(signed["encap_content_info"]["content"].native)
        imprint = tst["message_imprint"]
        algo = imprint["hash_algorithm"]["algorithm"].native
        gen_time: datetime = tst["gen_time"].native
        signer_info = signed["signer_infos"][0]
        sid = signer_info["sid"].chosen
        certs = [c.chosen for c in signed["certificates"] or []]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return TimestampCheck(CheckStatus.FAILED, "the timestamp token cannot be parsed", None, "FORMAT_FAILURE")
    if algo not in ("sha256", "sm3"):
        return TimestampCheck(CheckStatus.FAILED, f"unsupported imprint algorithm {algo}", None, "FORMAT_FAILURE")
    if not hmac.compare_digest(hashlib.new(algo, signature_value).digest(), imprint["hashed_message"].native):
        return TimestampCheck(
            CheckStatus.FAILED, "the timestamp is not over this signature value", None, "HASH_FAILURE"
        )
    tsa_cert = next(
        (
            c
            for c in certs
            if isinstance(c, x509.Certificate)
            and isinstance(sid, cms.IssuerAndSerialNumber)
            and c.issuer == sid["issuer"]
            and c.serial_number == sid["serial_number"].native
        ),
        None,
    )
    if tsa_cert is None:
        return TimestampCheck(
            CheckStatus.INDETERMINATE,
            "the token does not carry the TSA certificate",
            None,
            "NO_SIGNING_CERTIFICATE_FOUND",
        )
    try:
        attrs = signer_info["signed_attrs"]
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        md = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
        content = signed["encap_content_info"]["content"].contents
        if not hmac.compare_digest(hashlib.new(digest_name, content).digest(), md):
            return TimestampCheck(CheckStatus.FAILED, "the token's message digest is wrong", None, "HASH_FAILURE")
        sig_algo = signer_info["signature_algorithm"]["algorithm"].dotted
        scheme = {
            "1.2.840.113549.1.1.1": SignatureScheme.RSA_PKCS1_SHA256,
            "1.2.156.10197.1.301.1": SignatureScheme.SM2_SM3,
        }.get(sig_algo) or SignatureScheme.from_x509_oid(sig_algo)
        _, spki = normalize_spki(tsa_cert.public_key.dump())
        good = verify(spki, scheme, attrs.untag().dump(), signer_info["signature"].native)
    except (ValueError, TypeError, KeyError, StopIteration, KeyFormatError):
        return TimestampCheck(CheckStatus.FAILED, "the token's signature cannot be checked", None, "SIG_CRYPTO_FAILURE")
    if not good:
        return TimestampCheck(CheckStatus.FAILED, "the TSA signature does not verify", None, "SIG_CRYPTO_FAILURE")
    status = check_certificate(session, ca, tsa_cert.dump(), gen_time, purpose="timestamping")
    if status.status is not CheckStatus.PASSED:
        return TimestampCheck(status.status, f"TSA certificate: {status.message}", None, status.sub_indication)
    return TimestampCheck(CheckStatus.PASSED, f"timestamped at {gen_time.isoformat()} by our TSA", gen_time)


def verify_ses_blob(
    deps: SesVerifyDeps,
    blob: bytes,
    document: bytes | None = None,
    *,
    session: Session | None = None,
    at: datetime | None = None,
) -> SesReport:
    """Verify an ``SES_Signature`` (with ``document``: its dataHash too) or an ``SES_Seal``.

    The kind is recognised from the structure; v4 (GB/T 38540-2020) and v1 (GM/T 0031-2014)
    are both read. Raises :class:`~seal.errors.MalformedSes` only when the blob is neither;
    every other problem is a check in the report. Pass ``session`` when one is already open
    (never open a second session in the same thread).
    """
    if session is None:
        with deps.db.session() as own:
            return verify_ses_blob(deps, blob, document, session=own, at=at)
    try:
        sig = parse_signature(blob)
    except MalformedSes as sig_error:
        try:
            seal = parse_seal(blob)
        except MalformedSes:
            raise sig_error from None
        return verify_seal(
            seal,
            verify=_sm2_verify,
            check_cert=lambda cert, when: check_certificate(session, deps.ca, cert, when),
            at=at,
        )
    return verify_signature(
        sig,
        verify=_sm2_verify,
        check_cert=lambda cert, when: check_certificate(session, deps.ca, cert, when),
        check_timestamp=lambda token, value: check_timestamp(session, deps.ca, token, value),
        document=document,
        at=at,
    )
