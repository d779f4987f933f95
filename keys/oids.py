"""Object identifiers for the Chinese commercial algorithms, registered with asn1crypto once.

Sources: GM/T 0006-2012 (algorithm OIDs), GM/T 0010-2012 (CMS content types), GM/T 0015-2012
(certificate profile). asn1crypto does not know them, so without this registration SM2
certificates, CRLs, OCSP responses and CMS signatures would parse with raw dotted OIDs.
"""

from __future__ import annotations

from asn1crypto import algos, cms, keys

SM2_CURVE = "1.2.156.10197.1.301"
SM2_SIGN = "1.2.156.10197.1.301.1"
SM2_EXCHANGE = "1.2.156.10197.1.301.2"
SM2_ENCRYPT = "1.2.156.10197.1.301.3"
SM3 = "1.2.156.10197.1.401"
HMAC_SM3 = "1.2.156.10197.1.401.2"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
RSA_WITH_SM3 = "1.2.156.10197.1.504"

#: GM/T 0010 CMS content types (1.2.156.10197.6.1.4.2.x)
GM_CMS_DATA = "1.2.156.10197.6.1.4.2.1"
GM_CMS_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"

#: Identity extensions seen in Chinese certificates (GM/T 0015 §...; confidence M per STANDARDS.md)
IDENTIFY_CODE = "1.2.156.10260.4.1.1"
ORGANIZATION_CODE = "1.2.156.10260.4.1.4"

_registered = False


def register() -> None:
    """Teach asn1crypto the SM OIDs (idempotent)."""
    global _registered  # noqa: PLW0603 - one-time process registration
    if _registered:
        return
    _add(algos.DigestAlgorithmId, SM3, "sm3")
    _add(algos.SignedDigestAlgorithmId, SM2_WITH_SM3, "sm2_sm3")
    _add(algos.SignedDigestAlgorithmId, SM2_SIGN, "sm2sign")
    _add(algos.SignedDigestAlgorithmId, RSA_WITH_SM3, "sm3_rsa")
    _add(cms.ContentType, GM_CMS_DATA, "gm_data")
    _add(cms.ContentType, GM_CMS_SIGNED_DATA, "gm_signed_data")
    if SM2_CURVE not in keys.NamedCurve._map:
        keys.NamedCurve.register("sm2p256v1", SM2_CURVE, 32)
    _registered = True


def _add(cls: type, oid: str, name: str) -> None:
    cls._map[oid] = name  # type: ignore[attr-defined]
    reverse = getattr(cls, "_reverse_map", None)
    if reverse is not None:
        reverse[name] = oid


register()
