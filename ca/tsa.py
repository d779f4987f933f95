"""RFC 3161 time-stamp protocol: parse requests, build granted or rejected responses.

Tokens are CMS SignedData (RFC 5652) over a TSTInfo, with ESS signing-certificate-v2
(RFC 5816) binding the TSA certificate. Message imprints may be SHA-256 or SM3 (GB/T 32905);
anything else is rejected with ``badAlg`` (RFC 3161 §2.4.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp, x509

from ca import oids
from keys import SignatureScheme, Signer

MAX_QUERY_BYTES = 8 * 1024
#: accepted imprint algorithms -> digest length
IMPRINT_ALGORITHMS = {"sha256": 32, "sm3": 32}


class TsaRejection(ValueError):
    """Maps to a ``rejection`` response with the given PKIFailureInfo bit."""

    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


@dataclass(frozen=True)
class TsaQuery:
    hash_algorithm: str
    imprint: bytes
    nonce: int | None
    cert_req: bool
    raw_imprint: tsp.MessageImprint


def parse_query(der: bytes) -> TsaQuery:
    if not der or len(der) > MAX_QUERY_BYTES:
        raise TsaRejection("bad_request", "empty or oversized time-stamp query")
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        mi = req["message_imprint"]
        alg = mi["hash_algorithm"]["algorithm"].native
        imprint = bytes(mi["hashed_message"].native)
        policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TsaRejection("bad_data_format", "not a DER TimeStampReq") from exc
    if version != "v1":
        raise TsaRejection("bad_request", "TimeStampReq version must be 1")
    if alg not in IMPRINT_ALGORITHMS:
        raise TsaRejection("bad_alg", f"message imprint algorithm {alg} is not accepted (SHA-256 or SM3)")
    if len(imprint) != IMPRINT_ALGORITHMS[alg]:
        raise TsaRejection("bad_data_format", f"{alg} imprint must be {IMPRINT_ALGORITHMS[alg]} bytes")
    if policy is not None and policy != oids.TSA_POLICY:
        raise TsaRejection("unaccepted_policy", f"policy {policy} is not offered")
    if extensions:
        raise TsaRejection("unaccepted_extension", "extensions are not supported")
    if nonce is not None and (nonce < 0 or nonce.bit_length() > 256):
        raise TsaRejection("bad_request", "nonce out of range")
    return TsaQuery(alg, imprint, nonce, cert_req, mi)


class TimeStampResponse(core.Sequence):
    """TimeStampResp without a token: asn1crypto marks timeStampToken mandatory, RFC 3161 §2.4.2
    makes it OPTIONAL (absent when the status is not granted)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def rejection(failure: str, text: str) -> bytes:
    return bytes(
        TimeStampResponse(
            {"status": {"status": "rejection", "status_string": [text[:200]], "fail_info": {failure}}}
        ).dump()
    )


def _signer_alg(scheme: SignatureScheme) -> dict[str, object]:
    if scheme is SignatureScheme.RSA_PKCS1_SHA256:
        return {"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()}
    if scheme is SignatureScheme.SM2_SM3:
        # GM/T 0010 §8.2: digestEncryptionAlgorithm sm2-1 (1.2.156.10197.1.301.1), digest SM3
        return {"algorithm": "sm2sign", "parameters": core.Null()}
    return scheme.x509_algorithm()


def build_token(
    *,
    query: TsaQuery,
    serial: int,
    gen_time: datetime,
    signer: Signer,
    tsa_cert: x509.Certificate,
    chain: list[x509.Certificate],
) -> bytes:
    """A granted TimeStampResp carrying the signed token."""
    digest_name = signer.scheme.digest  # sha256 for RSA/ECDSA, sm3 for SM2
    tst = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": oids.TSA_POLICY,
            "message_imprint": query.raw_imprint,
            "serial_number": serial,
            "gen_time": gen_time.replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "ordering": False,
            "nonce": query.nonce,
            "tsa": x509.GeneralName(name="directory_name", value=tsa_cert.subject),
        }
    )
    tst_der = tst.dump()
    cert_hash = hashlib.new(digest_name, tsa_cert.dump()).digest()
    ess = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": digest_name},
                    "cert_hash": cert_hash,
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                        "serial_number": tsa_cert.serial_number,
                    },
                }
            ]
        }
    )
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=gen_time.replace(microsecond=0))]},
            {"type": "message_digest", "values": [hashlib.new(digest_name, tst_der).digest()]},
            # as bytes: asn1crypto deep-copies a built value placed into another structure (~30 ms)
            {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2.load(ess.dump())]},
        ]
    )
    signature = signer.sign(signed_attrs.dump())  # RFC 5652 §5.4: over the DER SET OF, not [0]
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number},
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_name}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": _signer_alg(signer.scheme),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_name})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_der)},
            # a re-loaded (unparsed) copy: asn1crypto deep-copies and re-encodes a parsed certificate
            # when it is re-tagged into CertificateChoices, which costs more than the signature
            "certificates": [x509.Certificate.load(tsa_cert.dump()), *chain] if query.cert_req else None,
            "signer_infos": [signer_info],
        }
    )
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())
