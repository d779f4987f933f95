"""Key algorithms and signature schemes, with their identifiers for X.509, CMS and JOSE."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asn1crypto import core as asn1core

from keys import oids


class KeyAlgorithm(StrEnum):
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    EC_P256 = "ec-p256"
    SM2 = "sm2"

    @property
    def family(self) -> Family:
        if self in (KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072, KeyAlgorithm.RSA_4096):
            return Family.RSA
        return Family.ECDSA if self is KeyAlgorithm.EC_P256 else Family.SM2

    @property
    def rsa_bits(self) -> int:
        return {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}[self.value]

    @property
    def default_scheme(self) -> SignatureScheme:
        return {
            Family.RSA: SignatureScheme.RSA_PKCS1_SHA256,
            Family.ECDSA: SignatureScheme.ECDSA_SHA256,
            Family.SM2: SignatureScheme.SM2_SM3,
        }[self.family]


class Family(StrEnum):
    """Algorithm family of a CA hierarchy."""

    RSA = "rsa"
    ECDSA = "ecdsa"
    SM2 = "sm2"


@dataclass(frozen=True)
class SchemeInfo:
    family: Family
    digest: str  # hashlib / asn1crypto digest name
    x509_oid: str  # signatureAlgorithm in certificates, CRLs, OCSP
    jose_alg: str


class SignatureScheme(StrEnum):
    RSA_PKCS1_SHA256 = "rsa-pkcs1-sha256"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    ECDSA_SHA256 = "ecdsa-sha256"
    SM2_SM3 = "sm2-sm3"

    @property
    def info(self) -> SchemeInfo:
        return _SCHEMES[self]

    @property
    def family(self) -> Family:
        return self.info.family

    @property
    def digest(self) -> str:
        return self.info.digest

    @property
    def jose_alg(self) -> str:
        return self.info.jose_alg

    def x509_algorithm(self) -> dict[str, Any]:
        """asn1crypto ``SignedDigestAlgorithm`` value for certificates/CRLs/OCSP/CMS.

        RSA-PSS carries its parameters (RFC 4055 §3.1: SHA-256, MGF1-SHA-256, salt 32);
        SM2-with-SM3 carries NULL as seen in GM/T 0015 certificates.
        """
        if self is SignatureScheme.RSA_PSS_SHA256:
            return {
                "algorithm": "rsassa_pss",
                "parameters": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                    "salt_length": 32,
                    "trailer_field": "trailer_field_bc",
                },
            }
        if self is SignatureScheme.RSA_PKCS1_SHA256:
            return {"algorithm": "sha256_rsa", "parameters": asn1core.Null()}  # RFC 4055 §5: NULL
        if self is SignatureScheme.ECDSA_SHA256:
            return {"algorithm": "sha256_ecdsa"}
        return {"algorithm": "sm2_sm3", "parameters": asn1core.Null()}

    @staticmethod
    def from_x509_oid(oid: str, params_hash: str | None = None) -> SignatureScheme:
        """Map a certificate/CMS signature algorithm OID back to a scheme (raises ``KeyError``)."""
        if oid == "1.2.840.113549.1.1.10":
            if params_hash not in (None, "sha256"):
                raise KeyError(f"RSASSA-PSS with {params_hash}")
            return SignatureScheme.RSA_PSS_SHA256
        return _BY_OID[oid]


_SCHEMES: dict[SignatureScheme, SchemeInfo] = {
    SignatureScheme.RSA_PKCS1_SHA256: SchemeInfo(Family.RSA, "sha256", "1.2.840.113549.1.1.11", "RS256"),
    SignatureScheme.RSA_PSS_SHA256: SchemeInfo(Family.RSA, "sha256", "1.2.840.113549.1.1.10", "PS256"),
    SignatureScheme.ECDSA_SHA256: SchemeInfo(Family.ECDSA, "sha256", "1.2.840.10045.4.3.2", "ES256"),
    SignatureScheme.SM2_SM3: SchemeInfo(Family.SM2, "sm3", oids.SM2_WITH_SM3, "SM2"),
}
_BY_OID: dict[str, SignatureScheme] = {
    "1.2.840.113549.1.1.11": SignatureScheme.RSA_PKCS1_SHA256,
    "1.2.840.10045.4.3.2": SignatureScheme.ECDSA_SHA256,
    oids.SM2_WITH_SM3: SignatureScheme.SM2_SM3,
    # GM/T 0010 SignerInfo digestEncryptionAlgorithm: sm2sign with SM3 as the digest algorithm
    oids.SM2_SIGN: SignatureScheme.SM2_SM3,
}
