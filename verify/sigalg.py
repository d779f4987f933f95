"""Plugging SM2 into pyhanko-certvalidator (and through it, pyHanko).

pyhanko-certvalidator verifies every signature it meets — certificates, CRLs, OCSP responses,
and, inside pyHanko, CMS SignerInfos and RFC 3161 tokens — through one
``SignatureValidator`` held by the ``ValidationContext``. Its default implementation uses
pyca/cryptography, which has no SM2. :class:`YwtSignatureValidator` answers SM2-with-SM3
(``1.2.156.10197.1.501``, and GM/T 0010's ``sm2sign`` ``1.2.156.10197.1.301.1`` in SignerInfos)
with ``keys.verify`` (tongsuopy, default distinguishing ID ``1234567812345678``, GB/T 32918.2)
and hands everything else to the default. So one path-validation engine (RFC 5280 §6, the one
PKITS is run through) serves all three families; no parallel SM2 path builder exists to drift.

The SM3 digest itself needs no help: pyca/cryptography provides ``hashes.SM3``.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

from keys import KeyFormatError, SignatureScheme, oids
from keys import verify as keys_verify

SM2_SIGNATURE_OIDS = frozenset({oids.SM2_WITH_SM3, oids.SM2_SIGN})


class YwtSignatureValidator(DefaultSignatureValidator):
    """Default pyca/cryptography validation, plus SM2-with-SM3 through keys/."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: Any,
        signature_algorithm: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        oid = signature_algorithm["algorithm"].dotted
        if oid in SM2_SIGNATURE_OIDS:
            try:
                ok = keys_verify(public_key_info.dump(), SignatureScheme.SM2_SM3, signed_data, signature)
            except KeyFormatError:
                ok = False
            if not ok:
                raise InvalidSignature("SM2-with-SM3 signature does not verify")
            return
        super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, *args, **kwargs)


SIGNATURE_VALIDATOR = YwtSignatureValidator()


def install_as_default() -> None:
    """Make SM2 support the default wherever pyhanko-certvalidator/pyHanko build a validation
    context of their own.

    Needed because not every nested context inherits the caller's validator: certvalidator
    0.33 validates a delegated OCSP responder that carries ``id-pkix-ocsp-nocheck`` (RFC 6960
    §4.2.2.2.1; our responders do) in a fresh ``ValidationContext`` built without the
    ``signature_validator`` argument (``revinfo/validate_ocsp.py``,
    ``_validate_delegated_ocsp_provenance``), and pyHanko's ``validate_sig_integrity`` falls back
    to a fresh default. Replacing the default class in those two modules (the only places that
    name it) closes the gap for SM2 OCSP responses embedded in PAdES B-LT documents. Idempotent;
    RSA/ECDSA behaviour is unchanged (our class delegates to the default for them).
    """
    from pyhanko.sign.validation import generic_cms
    from pyhanko_certvalidator import context

    setattr(context, "DefaultSignatureValidator", YwtSignatureValidator)  # noqa: B010 - patching a library default
    setattr(generic_cms, "DefaultSignatureValidator", YwtSignatureValidator)  # noqa: B010


install_as_default()
