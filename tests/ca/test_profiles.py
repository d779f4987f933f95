"""Certificate profiles are frozen data that cannot contradict themselves (validated when built)."""

from __future__ import annotations

import dataclasses

import pytest

from ca import oids
from ca.errors import UnknownProfile
from ca.profiles import PROFILES, CaRole, Profile, get_profile


def _p(**kw: object) -> Profile:
    base: dict[str, object] = {
        "name": "t", "description": "t", "issued_by": frozenset({CaRole.IDENTITY}),
        "key_usage": frozenset({"digital_signature"}), "validity_days": 365, "policy_oid": oids.POLICY_PERSON,
    }
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


def test_shipped_profiles() -> None:
    assert set(PROFILES) >= {"root", "issuing-ca", "person", "organisation", "seal-signing", "ocsp-responder",
                             "tsa", "token-signing"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["person"].validity_days = 1  # type: ignore[misc]
    with pytest.raises(UnknownProfile):
        get_profile("nope")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"key_usage": frozenset({"digital_signature", "key_cert_sign"})}, "end-entity"),
        ({"key_usage": frozenset()}, "key usage is required"),
        ({"key_usage": frozenset({"teleport"})}, "unknown key usage"),
        ({"is_ca": True, "issued_by": frozenset({CaRole.ROOT})}, "keyCertSign and cRLSign"),
        ({"path_len": 1}, "only applies to CAs"),
        ({"ext_key_usage": ("time_stamping", "client_auth"), "ext_key_usage_critical": True}, "TSA"),
        ({"ext_key_usage": ("time_stamping",)}, "TSA"),
        ({"ocsp_nocheck": True}, "ocsp-nocheck only"),
        ({"ext_key_usage": ("ocsp_signing",)}, "delegated responders"),
        ({"validity_days": 0}, "validity"),
        ({"issued_by": frozenset()}, "no CA role"),
        ({"is_ca": True, "key_usage": frozenset({"key_cert_sign", "crl_sign"})}, "issued by the root only"),
    ],
)
def test_contradictory_profiles_cannot_exist(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _p(**kw)
