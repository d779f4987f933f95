"""Certificate profiles as frozen data, validated when built.

A profile fixes everything about a certificate that the requester must not choose: CA or not,
key usage, extended key usage, validity, which CA role issues it, which key families it accepts,
and whether one subject may hold two valid certificates at once. A contradictory profile (an
end entity with keyCertSign, a TSA certificate with a second purpose, ...) cannot be created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ca import oids
from ca.errors import UnknownProfile
from keys.algorithms import Family


class CaRole(StrEnum):
    ROOT = "root"
    IDENTITY = "identity"
    SEAL = "seal"
    SERVICE = "service"


#: RFC 5280 §4.2.1.3 key usage bits, spelled as asn1crypto names them.
KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    }
)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    issued_by: frozenset[CaRole]
    key_usage: frozenset[str]
    validity_days: int
    policy_oid: str
    is_ca: bool = False
    path_len: int | None = None
    ext_key_usage: tuple[str, ...] = ()
    ext_key_usage_critical: bool = False
    unique_subject: bool = False
    ocsp_nocheck: bool = False
    families: frozenset[Family] = field(default_factory=lambda: frozenset(Family))
    required_attributes: tuple[str, ...] = ("common_name",)
    #: End-entity profiles may carry subject identity extensions (GM/T 0015 1.2.156.10260.4.1.x).
    identity_extensions: bool = False

    def __post_init__(self) -> None:
        unknown = self.key_usage - KEY_USAGES
        if unknown:
            raise ValueError(f"{self.name}: unknown key usage {sorted(unknown)}")
        if not self.key_usage:
            raise ValueError(f"{self.name}: a key usage is required (RFC 5280 §4.2.1.3)")
        if self.is_ca:
            # RFC 5280 §4.2.1.9: keyCertSign only with cA TRUE, and a CA must be able to sign CRLs here.
            if not {"key_cert_sign", "crl_sign"} <= self.key_usage:
                raise ValueError(f"{self.name}: a CA profile needs keyCertSign and cRLSign")
            if self.ext_key_usage:
                raise ValueError(f"{self.name}: CA profiles carry no extended key usage here")
        else:
            if self.key_usage & {"key_cert_sign", "crl_sign"}:
                raise ValueError(f"{self.name}: an end-entity profile cannot sign certificates or CRLs")
            if self.path_len is not None:
                raise ValueError(f"{self.name}: pathLenConstraint only applies to CAs")
        if self.path_len is not None and self.path_len < 0:
            raise ValueError(f"{self.name}: negative path length")
        if "time_stamping" in self.ext_key_usage and (
            self.ext_key_usage != ("time_stamping",) or not self.ext_key_usage_critical
        ):
            # RFC 3161 §2.3: exactly one, critical, extended key usage id-kp-timeStamping.
            raise ValueError(f"{self.name}: a TSA certificate must have only a critical timeStamping EKU")
        if self.ocsp_nocheck and "ocsp_signing" not in self.ext_key_usage:
            raise ValueError(f"{self.name}: id-pkix-ocsp-nocheck only on OCSP signing certificates")
        if "ocsp_signing" in self.ext_key_usage and not self.ocsp_nocheck:
            raise ValueError(f"{self.name}: delegated responders carry ocsp-nocheck here (RFC 6960 §4.2.2.2.1)")
        if not 1 <= self.validity_days <= 365 * 30:
            raise ValueError(f"{self.name}: validity out of range")
        if not self.issued_by:
            raise ValueError(f"{self.name}: no CA role may issue it")
        if self.is_ca and self.issued_by != frozenset({CaRole.ROOT}):
            raise ValueError(f"{self.name}: issuing CAs are issued by the root only")
        if not self.families:
            raise ValueError(f"{self.name}: no key family allowed")


_DS = frozenset({"digital_signature"})
_DS_NR = frozenset({"digital_signature", "non_repudiation"})

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="root",
            description="Self-signed root CA (offline-style)",
            issued_by=frozenset({CaRole.ROOT}),
            key_usage=frozenset({"key_cert_sign", "crl_sign"}),
            validity_days=365 * 20,
            policy_oid=oids.POLICY_ROOT,
            is_ca=True,
            unique_subject=True,
        ),
        Profile(
            name="issuing-ca",
            description="Issuing CA under a root (Identity, Seal, Service)",
            issued_by=frozenset({CaRole.ROOT}),
            key_usage=frozenset({"key_cert_sign", "crl_sign"}),
            validity_days=365 * 10,
            policy_oid=oids.POLICY_ROOT,
            is_ca=True,
            path_len=0,
            unique_subject=True,
        ),
        Profile(
            name="person",
            description="Natural person: signing and client authentication",
            issued_by=frozenset({CaRole.IDENTITY}),
            key_usage=_DS_NR,
            ext_key_usage=("client_auth", "email_protection"),
            validity_days=365 * 2,
            policy_oid=oids.POLICY_PERSON,
            unique_subject=True,
            identity_extensions=True,
        ),
        Profile(
            name="organisation",
            description="Legal entity: signing and client authentication",
            issued_by=frozenset({CaRole.IDENTITY}),
            key_usage=_DS_NR,
            ext_key_usage=("client_auth",),
            validity_days=365 * 2,
            policy_oid=oids.POLICY_ORGANISATION,
            unique_subject=True,
            identity_extensions=True,
        ),
        Profile(
            name="seal-signing",
            description="Electronic seal signing key (PAdES, GB/T 38540)",
            issued_by=frozenset({CaRole.SEAL}),
            key_usage=_DS_NR,
            ext_key_usage=(oids.EKU_SEAL_SIGNING, "email_protection"),
            validity_days=365 * 5,
            policy_oid=oids.POLICY_SEAL,
            identity_extensions=True,
        ),
        Profile(
            name="ocsp-responder",
            description="Delegated OCSP responder (RFC 6960 §4.2.2.2)",
            issued_by=frozenset(CaRole),
            key_usage=_DS,
            ext_key_usage=("ocsp_signing",),
            validity_days=365,
            policy_oid=oids.POLICY_SERVICE,
            ocsp_nocheck=True,
        ),
        Profile(
            name="tsa",
            description="RFC 3161 time-stamping unit",
            issued_by=frozenset({CaRole.SERVICE}),
            key_usage=_DS_NR,
            ext_key_usage=("time_stamping",),
            ext_key_usage_critical=True,
            validity_days=365 * 5,
            policy_oid=oids.POLICY_SERVICE,
        ),
        Profile(
            name="token-signing",
            description="OIDC token, QR payload and audit checkpoint signing",
            issued_by=frozenset({CaRole.SERVICE}),
            key_usage=_DS,
            ext_key_usage=(oids.EKU_TOKEN_SIGNING,),
            validity_days=365 * 2,
            policy_oid=oids.POLICY_SERVICE,
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(name) from None
