"""Errors of the certification authorities. They carry data; api/problems.py maps them."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, YwtError


class CaError(YwtError):
    code = "ca-error"
    title = "Certification authority error"


class UnknownCa(CaError, NotFound):
    code = "unknown-ca"
    title = "No such certification authority"

    def __init__(self, ca_id: str) -> None:
        super().__init__(f"no CA with id {ca_id[:80]!r}", ca_id=ca_id[:80])


class UnknownProfile(CaError, InvalidInput):
    code = "unknown-profile"
    title = "No such certificate profile"

    def __init__(self, profile: str) -> None:
        super().__init__(f"no certificate profile named {profile[:80]!r}", profile=profile[:80])


class ProfileNotAllowed(CaError, InvalidInput):
    code = "profile-not-allowed"
    title = "This CA does not issue certificates of that profile"


class BadCsr(CaError, InvalidInput):
    code = "bad-csr"
    title = "The certificate signing request is not acceptable"


class CaRightsRequested(BadCsr):
    code = "csr-requests-ca"
    title = "The request asks for CA rights, which end-entity profiles never grant"


class DuplicateSubject(CaError, Conflict):
    code = "duplicate-subject"
    title = "A valid certificate for this subject already exists and the profile forbids another"


class UnknownCertificate(CaError, NotFound):
    code = "unknown-certificate"
    title = "No certificate with that serial number"


class DuplicateCa(CaError, Conflict):
    code = "duplicate-ca"
    title = "A certification authority with that id already exists"


class AlreadyRevoked(CaError, Conflict):
    code = "already-revoked"
    title = "The certificate is already revoked"


class PkiNotInitialised(CaError):
    code = "pki-not-initialised"
    title = "The PKI has not been initialised (run `ywt init`)"


class BadName(CaError, InvalidInput):
    code = "bad-name"
    title = "The distinguished name is not acceptable"
