"""ASN.1 of GB/T 38540-2020 (v4) and GM/T 0031-2014 (v1) electronic seals, for asn1crypto.

Private to ``seal/``: asn1crypto is untyped, so its objects never leave :mod:`seal.ses`, which
converts them to frozen dataclasses. Field names follow the standards (snake_case).

v4 (GB/T 38540-2020 §5, STANDARDS.md [H]):
  SES_Seal ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING, signAlgID OBJECT IDENTIFIER,
                          signedValue BIT STRING }
  TBS_Sign ::= SEQUENCE { version INTEGER, eseal SES_Seal, timeInfo GeneralizedTime,
                          dataHash BIT STRING, propertyInfo IA5String,
                          extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
  SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING, signatureAlgID OBJECT IDENTIFIER,
                               signature BIT STRING, timeStamp [0] EXPLICIT BIT STRING OPTIONAL }

v1 (GM/T 0031-2014). We have not read the standard itself; the layout below is learnt from the
public ofdrw project (``org.ofdrw.gm.ses.v1``: SESeal, SES_SignInfo, SES_ESPropertyInfo, TBS_Sign,
SES_Signature) and cross-checked with an independent C implementation
(Chingliu/gm_0031_38540_verifier, ``SESv2_*`` / ``TBSv2_Sign`` types) and with a real v1
signature from a vendor demo (dms360.cn) found in ofdrw's test data. Confidence [M]:
  SES_Seal ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
  SES_SignInfo ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER,
                              signData BIT STRING }
  SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certList SEQUENCE OF OCTET STRING,
                                    createDate UTCTime, validStart UTCTime, validEnd UTCTime }
  TBS_Sign ::= SEQUENCE { version INTEGER, eseal SES_Seal, timeInfo BIT STRING, dataHash BIT STRING,
                          propertyInfo IA5String, cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER }
  SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }
The header, picture and extension structures are the same as in v4.
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core
from asn1crypto.x509 import Time

# ---------------------------------------------------------------------------- shared


class SesHeader(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class ExtData(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


class PictureInfo(core.Sequence):
    """``SES_ESPictrueInfo`` (sic, the standard's spelling): type, data, width and height in mm."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class CertOctets(core.SequenceOf):
    """``SEQUENCE OF OCTET STRING``: each element one DER certificate."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    _child_spec = CertDigestObj


# ---------------------------------------------------------------------------- v4


class PropertyInfoV4(core.Sequence):
    """``SES_ESPropertyInfo`` v4. ``certList`` is an untagged CHOICE of two SEQUENCE OFs, which
    no decoder can tell apart by tag: it is kept as ``Any`` and decoded by ``certListType``."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SealInfoV4(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", PropertyInfoV4),
        ("picture", PictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SesSealV4(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("e_seal_info", SealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TbsSignV4(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", SesSealV4),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SesSignatureV4(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", TbsSignV4),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


# ---------------------------------------------------------------------------- v1


class PropertyInfoV1(core.Sequence):
    """v1 property info: no certListType, UTCTime dates. Like ofdrw we also accept
    GeneralizedTime here (``Time`` is the X.509 CHOICE of both)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertOctets),
        ("create_date", Time),
        ("valid_start", Time),
        ("valid_end", Time),
    ]


class SealInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", PropertyInfoV1),
        ("picture", PictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SignInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SesSealV1(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("e_seal_info", SealInfoV1),
        ("sign_info", SignInfoV1),
    ]


class TbsSignV1(core.Sequence):
    """v1 TBS_Sign. ``timeInfo`` and ``dataHash`` are BIT STRINGs in GM/T 0031-2014; ofdrw also
    reads OCTET STRINGs there ("兼容非标签章"), so both are kept as ``Any`` and checked by tag."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", SesSealV1),
        ("time_info", core.Any),
        ("data_hash", core.Any),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SesSignatureV1(core.Sequence):
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", TbsSignV1),
        ("signature", core.OctetBitString),
    ]
