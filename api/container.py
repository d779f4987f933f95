"""Wiring: builds every service from one Settings object (no globals, no import-time state)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ca.service import CaService
from core.audit import Journal
from core.blobs import BlobStore
from core.db import Database, migrate
from core.meta import bind_master_key
from core.pii import PiiVault
from core.ratelimit import build_limiter
from core.secrets import MasterKey, load_master_key
from core.settings import Settings
from identity.service import IdentityService
from identity.tokens import AccessTokenClaims
from keys import KeyFormatError, KeyStore, normalize_spki, verify
from license.service import LicenseService
from seal.service import SealService
from verify.service import VerifyService
from verify.trust import TrustService, federation_idps

log = logging.getLogger("ywt")


@dataclass
class Services:
    settings: Settings
    db: Database
    master: MasterKey
    journal: Journal
    keys: KeyStore
    ca: CaService
    blobs: BlobStore
    pii: PiiVault
    identity: IdentityService
    started_report: list[str] = field(default_factory=list)
    #: bearer token -> Principal (api.auth); installed by identity/ when its OIDC provider is wired
    token_verifier: Any = None
    #: rate-limit state (core.ratelimit): Redis when YWT_REDIS_URL is set, else in process
    limiter: Any = None
    seal: SealService = field(init=False)
    #: e-licences (license/): issuance, library, sharing, import
    licenses: LicenseService | None = None
    #: verification (verify/): PDFs, certificates, SES, QR codes, tokens; the trust list
    verifier: VerifyService | None = None

    def close(self) -> None:
        self.keys.close()
        if hasattr(self.limiter, "close"):
            self.limiter.close()
        self.db.dispose()


def checkpoint_verifier(cert_der: bytes, data: bytes, signature: bytes) -> bool:
    """Verify a journal checkpoint with the public key of the certificate stored beside it."""
    from asn1crypto import x509

    try:
        spki = x509.Certificate.load(cert_der).public_key.dump()
        algorithm, _ = normalize_spki(spki)
    except (ValueError, TypeError, KeyFormatError):
        return False
    return verify(spki, algorithm.default_scheme, data, signature)


def pkcs11_backend(settings: Settings) -> Any:
    """The PKCS#11 backend from settings (loaded lazily: each worker process logs in itself)."""
    from keys.pkcs11 import Pkcs11Backend, Pkcs11Config

    assert settings.pkcs11_module and settings.pkcs11_token and settings.pkcs11_pin is not None
    return Pkcs11Backend(
        Pkcs11Config(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin.get_secret_value())
    )


def build_services(settings: Settings) -> Services:
    """Open the database, run migrations and check the master key; does not create a PKI."""
    db = Database(settings)
    migrate(db)
    master = load_master_key(settings)
    with db.session() as session:
        bind_master_key(session, master)
    journal = Journal(settings.audit_checkpoint_every)
    keystore = KeyStore(master, journal)
    if settings.pkcs11_configured:
        hsm = pkcs11_backend(settings)
        hsm.check()  # a wrong PIN or a missing token stops the start with a clear message
        keystore.add_backend(hsm)
    ca = CaService(settings, keystore, journal)
    pii = PiiVault(master)
    identity = IdentityService(settings, db, master, keystore, ca, journal, pii)
    services = Services(
        settings, db, master, journal, keystore, ca, BlobStore(settings.blob_dir), pii, identity,
        limiter=build_limiter(settings.redis_url),
    )
    services.token_verifier = bearer_verifier(identity)
    services.seal = SealService(
        db=db, keys=keystore, ca=ca, journal=journal, blobs=services.blobs, max_pdf_bytes=settings.max_upload_bytes
    )
    services.licenses = _build_licenses(services)
    trust = TrustService(settings, ca, journal, settings.trust_bundle, lambda: federation_idps(identity))
    services.verifier = VerifyService(settings, db, ca, journal, trust, identity=identity)
    return services


def _build_licenses(services: Services) -> LicenseService:
    from license.identity_adapter import IdentityPersonDirectory
    from license.seal_adapter import SealServiceSealer

    identity = services.identity
    return LicenseService(
        settings=services.settings,
        db=services.db,
        journal=services.journal,
        blobs=services.blobs,
        pii=services.pii,
        ca=services.ca,
        entities=lambda: identity.sources().legal_entity,
        persons=IdentityPersonDirectory(identity),
        sealer=SealServiceSealer(services.seal),
    )


def bearer_verifier(identity: IdentityService) -> Any:
    """``services.token_verifier``: our RFC 9068 access token -> :class:`api.auth.Principal`."""
    from api.auth import Principal

    def verify(token: str) -> Principal:
        c: AccessTokenClaims = identity.verify_access_token(token)
        return Principal(
            subject=c.account_id or c.subject,  # a person: our account id, whatever sub the client sees
            kind=c.kind,
            client_id=c.client_id,
            scopes=c.scopes,
            roles=c.roles,
            entity_uscc=c.entity_uscc,
            acr=c.acr,
            token_id=c.token_id,
        )

    return verify


def attach_checkpoint_signer(services: Services) -> None:
    with services.db.session() as session:
        services.journal.signer = services.ca.find_credential(session, "audit")


def initialise(services: Services, *, demo: bool) -> list[str]:
    """Create the PKI on first start (and the demo world if asked); returns lines to print."""
    report: list[str] = []
    with services.db.session() as session:
        if not services.ca.is_initialised(session):
            created = services.ca.init_pki(session, actor="ywt-init")
            report.append(f"PKI initialised: {len(created)} CAs")
            report.extend(f"  {c.id:16} {c.subject}" for c in created)
        for key in services.identity.ensure_signing_keys(session):
            report.append(f"token-signing key {key.alg}: kid {key.kid[:16]}…")
    attach_checkpoint_signer(services)
    if services.licenses is not None:
        with services.db.session() as session:
            report.extend(services.licenses.ensure_setup(session))
    if services.verifier is not None:
        with services.db.session() as session:
            services.verifier.trust.ensure_signing_key(session)
    if demo:
        from api import demo as demo_mod

        report.extend(demo_mod.ensure_demo(services))
    return report
