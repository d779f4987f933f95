"""Object identifiers of this service.

We own no registered arc, so ours hangs under ``2.25`` (ITU-T X.667: an OID derived from a
UUID needs no registration): UUID 38d62b53-02a4-498f-aa3c-73b9a78962d1.
"""

from __future__ import annotations

YWT_ARC = "2.25.75548798012049768937850919659040760529"

#: Certificate policies (RFC 5280 §4.2.1.4), one per profile family.
POLICY_ROOT = f"{YWT_ARC}.1.1"
POLICY_PERSON = f"{YWT_ARC}.1.2"
POLICY_ORGANISATION = f"{YWT_ARC}.1.3"
POLICY_SEAL = f"{YWT_ARC}.1.4"
POLICY_SERVICE = f"{YWT_ARC}.1.5"

#: RFC 3161 TSA policy (TSTInfo.policy).
TSA_POLICY = f"{YWT_ARC}.2.1"

#: Extended key usages of our own.
EKU_TOKEN_SIGNING = f"{YWT_ARC}.3.1"
EKU_SEAL_SIGNING = f"{YWT_ARC}.3.2"

#: RFC 6960 §4.2.2.2.1 id-pkix-ocsp-nocheck
OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5"
