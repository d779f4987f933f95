"""The trust list: exactly the issuers verification trusts, and its signed publication.

Contents (DESIGN.md "Trust list"): our own roots (RSA, ECDSA, SM2), external CA certificates
configured by operators (the national platform CA, other accredited CAs; from the database or
the PEM bundle named by ``YWT_TRUST_BUNDLE``) and external OpenID providers (the national IdP:
issuer + JWKS). Our issuing CAs are listed as intermediates (path building aid), never as anchors.

Publication format (``GET /pki/trust-list``): a JWS compact serialisation (RFC 7515) signed
ES256 by a Service CA key (purpose ``trust-list``, profile token-signing) with the signing
certificate and its issuing CA in ``x5c`` (RFC 7515 §4.1.6). Header
``{"alg":"ES256","typ":"trust-list+jws","x5c":[…],"kid":…}``; payload (UTF-8 JSON)::

    {"format": "ywt-trust-list/1", "issuer": base URL, "issued_at": RFC 3339, "next_update": RFC 3339,
     "anchors": [{"name","source","family","subject","sha256","certificate": base64 DER}],
     "intermediates": [ same shape ],
     "idps": [{"name","source","issuer","jwks_uri","jwks"}],
     "qr_signers": [ same shape as anchors: the licence QR-signing certificates ]}

A relying party verifies the JWS with the ``x5c`` leaf, and the leaf's chain to one of *our*
roots obtained out of band (``ywt pki trust-bundle`` or the ECDSA root's fingerprint).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import pem, x509
from sqlmodel import Session, col, select

from ca.profiles import CaRole
from ca.service import CaService, ca_id_for
from core import clock
from core.audit import Journal
from core.settings import Settings
from keys import Family, SignatureScheme, normalize_spki
from keys import verify as keys_verify
from verify.errors import BadTrustAnchor, TrustListUnavailable
from verify.models import TrustedIssuer

FORMAT = "ywt-trust-list/1"
JWS_TYPE = "trust-list+jws"
PURPOSE = "trust-list"
PUBLISH_VALIDITY = timedelta(hours=24)
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
MAX_BUNDLE_CERTS = 500


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64u_dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_certificates(data: bytes, *, limit: int = MAX_BUNDLE_CERTS) -> list[x509.Certificate]:
    """Certificates from a PEM bundle or a single DER certificate (bounded)."""
    if not data:
        raise BadTrustAnchor("the bundle is empty")
    if len(data) > MAX_BUNDLE_BYTES:
        raise BadTrustAnchor(f"bundles are limited to {MAX_BUNDLE_BYTES} bytes")
    ders: list[bytes] = []
    try:
        if pem.detect(data):
            for kind, _headers, der in pem.unarmor(data, multiple=True):
                if kind != "CERTIFICATE":
                    raise BadTrustAnchor(f"the bundle holds a {kind[:30]} block; only CERTIFICATE is accepted")
                ders.append(der)
                if len(ders) > limit:
                    raise BadTrustAnchor(f"a bundle holds at most {limit} certificates")
        else:
            ders.append(data)
        certs = []
        for der in ders:
            cert = x509.Certificate.load(der, strict=True)
            _ = cert.subject.human_friendly, cert.public_key.dump(), cert.not_valid_after
            certs.append(cert)
    except BadTrustAnchor:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise BadTrustAnchor("not a PEM bundle or DER certificate") from exc
    if not certs:
        raise BadTrustAnchor("no certificate found in the bundle")
    return certs


def family_of(cert: x509.Certificate) -> str:
    try:
        alg, _ = normalize_spki(cert.public_key.dump())
        return alg.family.value
    except ValueError:
        return "other"


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class TrustAnchor:
    name: str
    source: str  # "ywt" | "national" | "accredited" | "bundle" | "cli" ...
    cert_der: bytes = field(repr=False)

    @property
    def cert(self) -> x509.Certificate:
        return x509.Certificate.load(self.cert_der)

    @property
    def sha256(self) -> str:
        return fingerprint(self.cert_der)

    @property
    def subject(self) -> str:
        return str(self.cert.subject.human_friendly)

    @property
    def pem(self) -> str:
        return str(pem.armor("CERTIFICATE", self.cert_der).decode())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "family": family_of(self.cert),
            "subject": self.subject,
            "sha256": self.sha256,
            "not_after": self.cert.not_valid_after.isoformat(),
            "certificate": base64.b64encode(self.cert_der).decode(),
        }


@dataclass(frozen=True)
class TrustedIdp:
    name: str
    source: str
    issuer: str
    jwks: dict[str, Any] | None
    jwks_uri: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "jwks": self.jwks,
        }


@dataclass(frozen=True)
class TrustList:
    """What verification trusts. ``ours`` are the fingerprints of our own roots: signatures
    chaining to them fall under the strict policy for our seals and licences."""

    anchors: tuple[TrustAnchor, ...]
    intermediates: tuple[TrustAnchor, ...] = ()
    idps: tuple[TrustedIdp, ...] = ()
    issued_at: datetime | None = None
    #: certificates that sign licence QR codes (too large for the code itself, so the trust
    #: list carries them, as EU DCC trust lists carry document signer certificates)
    qr_signers: tuple[TrustAnchor, ...] = ()

    @property
    def ours(self) -> frozenset[str]:
        return frozenset(a.sha256 for a in self.anchors if a.source == "ywt")

    def root_certs(self) -> list[x509.Certificate]:
        return [a.cert for a in self.anchors]

    def intermediate_certs(self) -> list[x509.Certificate]:
        return [a.cert for a in self.intermediates]

    def anchor_for(self, cert_der: bytes) -> TrustAnchor | None:
        fp = fingerprint(cert_der)
        return next((a for a in self.anchors if a.sha256 == fp), None)

    def idp(self, issuer: str) -> TrustedIdp | None:
        return next((i for i in self.idps if i.issuer == issuer), None)

    def with_anchors(self, certs: list[x509.Certificate], source: str) -> TrustList:
        """Add CA certificates as anchors (``ywt verify --trust``); end-entity certificates in
        the list are taken as licence QR signers."""
        qr = tuple(TrustAnchor("licence QR signer", source, bytes(c.dump())) for c in certs if not c.ca)
        certs = [c for c in certs if c.ca]
        have = {a.sha256 for a in self.anchors}
        extra = tuple(
            TrustAnchor(str(c.subject.human_friendly)[:200], source, bytes(c.dump()))
            for c in certs
            if fingerprint(c.dump()) not in have
        )
        return TrustList(self.anchors + extra, self.intermediates, self.idps, self.issued_at, self.qr_signers + qr)

    def pem_bundle(self) -> str:
        """Anchors as a PEM bundle with a comment line per certificate (``ywt pki trust-bundle``)."""
        parts = []
        for a in self.anchors:
            parts.append(f"# {a.name} [{a.source}] sha256={a.sha256}\n{a.pem}")
        for a in self.qr_signers:
            parts.append(f"# licence QR signer (not an anchor) sha256={a.sha256}\n{a.pem}")
        return "".join(parts)

    def payload(self, issuer: str) -> dict[str, Any]:
        issued = (self.issued_at or clock.now()).replace(microsecond=0)
        return {
            "format": FORMAT,
            "issuer": issuer,
            "issued_at": issued.isoformat(),
            "next_update": (issued + PUBLISH_VALIDITY).isoformat(),
            "anchors": [a.as_dict() for a in self.anchors],
            "intermediates": [a.as_dict() for a in self.intermediates],
            "idps": [i.as_dict() for i in self.idps],
            "qr_signers": [a.as_dict() for a in self.qr_signers],
        }

    @functools.cached_property
    def _qr_pool(self) -> tuple[bytes, ...]:
        cas = {a.cert.subject.dump(): a for a in (*self.intermediates, *self.anchors)}
        pool = [a.cert_der for a in self.qr_signers]
        issuers = {a.cert.issuer.dump() for a in self.qr_signers}
        pool += [cas[name].cert_der for name in sorted(issuers) if name in cas]
        return tuple(pool)

    def qr_pool(self) -> list[bytes]:
        """DER certificates ``license.qr.verify_payload`` needs: the QR signers (trusted as
        such) and the CAs that issued them (so a look-alike naming that CA is refused). Only
        those: every certificate in the pool is parsed on every verification."""
        return list(self._qr_pool)


MAX_JWKS_KEYS = 20


def _check_jwks(jwks: Any) -> None:
    """An IdP's JWKS is trusted only if every key in it is a usable public signing key (RFC 7517):
    a key that does not decode would otherwise sit on the trust list and be published."""
    from identity.jose import import_jwk
    from keys import KeyFormatError

    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise BadTrustAnchor("a JWKS is an object with a non-empty 'keys' array")
    if len(keys) > MAX_JWKS_KEYS:
        raise BadTrustAnchor(f"a JWKS may hold at most {MAX_JWKS_KEYS} keys")
    for i, jwk in enumerate(keys):
        try:
            import_jwk(jwk)
        except KeyFormatError as exc:
            kid = str(jwk.get("kid", ""))[:40] if isinstance(jwk, dict) else ""
            raise BadTrustAnchor(f"JWKS key {i} ({kid or 'no kid'}): {exc}", key_index=i) from None


def federation_idps(identity: Any) -> list[TrustedIdp]:
    """The national IdP identity/ federates with (``NationalIdpConfig``), as a trust-list entry."""
    federation = getattr(identity, "federation", None)
    config = getattr(federation, "config", None)
    if config is None:
        return []
    return [TrustedIdp(config.name, "national", config.issuer, None, config.jwks_url)]


def from_bundle(data: bytes, source: str = "cli") -> TrustList:
    """A trust list made of a PEM bundle only (offline verification with ``--trust``): CA
    certificates become anchors, end-entity certificates licence QR signers."""
    certs = load_certificates(data)
    base = TrustList(()).with_anchors([c for c in certs if c.ca], source)
    qr = tuple(TrustAnchor("licence QR signer", source, bytes(c.dump())) for c in certs if not c.ca)
    return TrustList(base.anchors, (), (), None, qr)


def _der_to_raw(signature: bytes, size: int = 32) -> bytes:
    from asn1crypto.algos import DSASignature

    parsed = DSASignature.load(signature).native
    return int(parsed["r"]).to_bytes(size, "big") + int(parsed["s"]).to_bytes(size, "big")


def _raw_to_der(raw: bytes) -> bytes:
    from asn1crypto.algos import DSASignature

    half = len(raw) // 2
    return bytes(DSASignature({"r": int.from_bytes(raw[:half], "big"), "s": int.from_bytes(raw[half:], "big")}).dump())


def verify_published(jws: str, trusted_roots: list[x509.Certificate]) -> dict[str, Any]:
    """Check a published trust list: ES256 signature with the ``x5c`` leaf, whose issuer must be
    signed by one of ``trusted_roots`` (our roots, obtained out of band). Returns the payload."""
    from verify.certs import validate_certificate

    try:
        h64, p64, s64 = jws.split(".")
        header = json.loads(_b64u_dec(h64))
        payload: dict[str, Any] = json.loads(_b64u_dec(p64))
        chain = [x509.Certificate.load(base64.b64decode(c)) for c in header["x5c"]]
        raw = _b64u_dec(s64)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadTrustAnchor("not a published trust list (JWS compact serialisation)") from exc
    if header.get("alg") != "ES256" or header.get("typ") != JWS_TYPE or len(raw) != 64:
        raise BadTrustAnchor("unexpected JWS header for a trust list")
    ok = keys_verify(
        chain[0].public_key.dump(), SignatureScheme.ECDSA_SHA256, f"{h64}.{p64}".encode(), _raw_to_der(raw)
    )
    if not ok:
        raise BadTrustAnchor("the trust list signature does not verify")
    result = validate_certificate(
        chain[0],
        intermediates=chain[1:],
        trust=TrustList(()).with_anchors(trusted_roots, "ywt"),
        revocation="soft-fail",
    )
    if not result.trusted:
        raise BadTrustAnchor(f"the trust list signer is not trusted: {result.message}")
    if payload.get("format") != FORMAT:
        raise BadTrustAnchor("unknown trust list format")
    return payload


class TrustService:
    """Builds the trust list from our CAs, the database and the configured PEM bundle."""

    #: how long a built trust list is reused; changes made through this service apply at once
    CACHE_SECONDS = 5.0

    def __init__(
        self,
        settings: Settings,
        ca: CaService,
        journal: Journal,
        bundle: Path | None = None,
        configured_idps: Callable[[], list[TrustedIdp]] | None = None,
    ) -> None:
        self.settings = settings
        self.ca = ca
        self.journal = journal
        self.bundle = bundle
        #: IdPs configured elsewhere (identity/'s federation with the national IdP)
        self.configured_idps = configured_idps
        self._cached: tuple[float, TrustList] | None = None

    def invalidate(self) -> None:
        self._cached = None

    def current(self, session: Session) -> TrustList:
        """The trust list now (reused for :attr:`CACHE_SECONDS`: building it parses every
        certificate, and verification asks for it on every request)."""
        import time

        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        built = self._build(session)
        self._cached = (time.monotonic(), built)
        return built

    def _build(self, session: Session) -> TrustList:
        anchors: list[TrustAnchor] = []
        intermediates: list[TrustAnchor] = []
        for info in self.ca.list_cas(session):
            entry = TrustAnchor(info.subject, "ywt", info.cert_der)
            (anchors if info.role is CaRole.ROOT else intermediates).append(entry)
        seen = {a.sha256 for a in anchors}
        idps: list[TrustedIdp] = []
        rows = session.exec(select(TrustedIssuer).order_by(col(TrustedIssuer.added_at))).all()
        for row in rows:
            if row.kind == "ca" and row.cert_der is not None and row.id not in seen:
                anchors.append(TrustAnchor(row.name, row.source, row.cert_der))
                seen.add(row.id)
            elif row.kind == "idp" and row.issuer_url:
                jwks = json.loads(row.jwks_json) if row.jwks_json else None
                idps.append(TrustedIdp(row.name, row.source, row.issuer_url, jwks, row.jwks_uri))
        if self.bundle is not None and self.bundle.is_file():
            for cert in load_certificates(self.bundle.read_bytes()):
                fp = fingerprint(cert.dump())
                if fp not in seen:
                    anchors.append(TrustAnchor(str(cert.subject.human_friendly)[:200], "bundle", bytes(cert.dump())))
                    seen.add(fp)
        from license.qr import signing_certificates

        if self.configured_idps is not None:
            known = {i.issuer for i in idps}
            idps += [i for i in self.configured_idps() if i.issuer not in known]

        qr = tuple(TrustAnchor("licence QR signer", "ywt", der) for der in signing_certificates(session))
        return TrustList(tuple(anchors), tuple(intermediates), tuple(idps), clock.now(), qr)

    def add_ca(self, session: Session, data: bytes, *, name: str, source: str, actor: str) -> list[TrustAnchor]:
        """Trust the CA certificate(s) in ``data`` (PEM bundle or DER). Only CA certificates
        (basicConstraints cA TRUE, RFC 5280 §4.2.1.9) are accepted as anchors."""
        added = []
        for cert in load_certificates(data):
            if not cert.ca:
                raise BadTrustAnchor(f"{cert.subject.human_friendly[:80]} is not a CA certificate")
            der = bytes(cert.dump())
            fp = fingerprint(der)
            if session.get(TrustedIssuer, fp) is not None:
                continue
            label = (name or str(cert.subject.human_friendly))[:200]
            session.add(
                TrustedIssuer(
                    id=fp, kind="ca", name=label, source=source[:40], cert_der=der, added_at=clock.now(), added_by=actor
                )
            )
            self.journal.append(
                session, actor=actor, action="trust.add-ca", target=fp, data={"name": label, "source": source}
            )
            added.append(TrustAnchor(label, source, der))
        session.flush()
        self.invalidate()
        return added

    def add_idp(
        self,
        session: Session,
        *,
        issuer: str,
        name: str,
        source: str,
        actor: str,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
    ) -> TrustedIdp:
        """Trust an external OpenID provider (its issuer and JWKS, or the URI to fetch it from)."""
        if not issuer.startswith(("https://", "http://")) or len(issuer) > 300:
            raise BadTrustAnchor("an IdP issuer is an http(s) URL of at most 300 characters")
        if jwks is not None:
            _check_jwks(jwks)
        key = hashlib.sha256(issuer.encode()).hexdigest()
        row = session.get(TrustedIssuer, key) or TrustedIssuer(
            id=key, kind="idp", name=name[:200], source=source[:40], added_at=clock.now(), added_by=actor
        )
        row.issuer_url = issuer
        row.name = name[:200]
        row.jwks_json = json.dumps(jwks) if jwks is not None else None
        row.jwks_uri = jwks_uri
        session.add(row)
        self.journal.append(session, actor=actor, action="trust.add-idp", target=issuer[:300], data={"name": name})
        session.flush()
        self.invalidate()
        return TrustedIdp(row.name, row.source, issuer, jwks, jwks_uri)

    def remove(self, session: Session, ident: str, *, actor: str) -> bool:
        row = session.get(TrustedIssuer, ident)
        if row is None:
            return False
        session.delete(row)
        self.invalidate()
        self.journal.append(session, actor=actor, action="trust.remove", target=ident, data={"kind": row.kind})
        return True

    def ensure_signing_key(self, session: Session, *, actor: str = "ywt-init") -> None:
        """Issue the trust-list signing certificate (ECDSA Service CA) if there is none."""
        if self.ca.find_credential(session, PURPOSE, Family.ECDSA) is not None:
            return
        ca_id = ca_id_for(Family.ECDSA, CaRole.SERVICE)
        self.ca.issue_service_credential(session, ca_id, "token-signing", PURPOSE, "YWT Trust List Signer", actor=actor)

    def publish(self, session: Session) -> str:
        """The current trust list as a signed JWS (see the module docstring for the format)."""
        cred = self.ca.find_credential(session, PURPOSE, Family.ECDSA)
        if cred is None:
            raise TrustListUnavailable("no trust-list signing certificate; run `ywt init`")
        trust = self.current(session)
        header = {
            "alg": "ES256",
            "typ": JWS_TYPE,
            "kid": cred.key_id[:16],
            "x5c": [base64.b64encode(cred.cert_der).decode(), base64.b64encode(cred.chain[0].dump()).decode()],
        }
        h64 = _b64u(json.dumps(header, separators=(",", ":")).encode())
        p64 = _b64u(
            json.dumps(trust.payload(self.settings.base_url), separators=(",", ":"), ensure_ascii=False).encode()
        )
        signature = cred.signer.sign(f"{h64}.{p64}".encode(), SignatureScheme.ECDSA_SHA256)
        return f"{h64}.{p64}.{_b64u(_der_to_raw(signature))}"
