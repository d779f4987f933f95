"""Soft key store: encrypted at rest, usable by id, journaled; bad imports refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.container import Services
from keys import InvalidKey, KeyAlgorithm, KeyNotFound, LocalSigner, crypto, verify
from keys.models import KeyRecord


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_generate_sign_verify_each_algorithm(services: Services, alg: KeyAlgorithm) -> None:
    with services.db.session() as s:
        info = services.keys.generate(s, alg, f"t-{alg}")
        signer = services.keys.signer(s, info.key_id)
    assert info.key_id == crypto.key_id(info.public_key_der)
    sig = signer.sign(b"message")
    assert verify(info.public_key_der, signer.scheme, b"message", sig)
    assert not verify(info.public_key_der, signer.scheme, b"messagE", sig)


def test_private_keys_are_encrypted_at_rest(services: Services) -> None:
    with services.db.session() as s:
        info = services.keys.generate(s, KeyAlgorithm.EC_P256, "secret")
        signer = services.keys.signer(s, info.key_id)
        assert isinstance(signer, LocalSigner)
        pkcs8 = crypto.to_pkcs8(signer._key)
        rec = s.get(KeyRecord, info.key_id)
        assert rec is not None and rec.private_blob is not None
        assert pkcs8 not in rec.private_blob and pkcs8[-32:] not in rec.private_blob
        # the private scalar is nowhere in the row
        d = signer._key.private_numbers().private_value.to_bytes(32, "big")
        assert d not in rec.private_blob


def test_blob_swapped_between_rows_does_not_decrypt(services: Services) -> None:
    with services.db.session() as s:
        a = services.keys.generate(s, KeyAlgorithm.SM2, "a")
        b = services.keys.generate(s, KeyAlgorithm.SM2, "b")
    with services.db.engine.begin() as c:
        blob = c.execute(sa.text("SELECT private_blob FROM key_record WHERE key_id=:k"), {"k": a.key_id}).scalar_one()
        c.execute(sa.text("UPDATE key_record SET private_blob=:b WHERE key_id=:k"), {"b": blob, "k": b.key_id})
    services.keys._cache.clear()
    with services.db.session() as s, pytest.raises(Exception, match="could not be decrypted"):
        services.keys.signer(s, b.key_id)


def test_import_pem_keys_and_list(services: Services) -> None:
    rsa_pem = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ec_enc = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with services.db.session() as s:
        a = services.keys.import_private(s, rsa_pem, "imported rsa")
        b = services.keys.import_private(s, ec_enc, "imported ec", password=b"pw")
        ids = {k.key_id for k in services.keys.list(s)}
    assert {a.key_id, b.key_id} <= ids
    assert a.algorithm is KeyAlgorithm.RSA_2048 and b.algorithm is KeyAlgorithm.EC_P256


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    ],
    ids=["empty", "garbage", "bad-pem", "p384-unsupported"],
)
def test_bad_imports_are_refused_and_nothing_stored(services: Services, data: bytes) -> None:
    with services.db.session() as s:
        before = len(services.keys.list(s))
    with services.db.session() as s, pytest.raises(InvalidKey):
        services.keys.import_private(s, data, "bad")
    with services.db.session() as s:
        assert len(services.keys.list(s)) == before


def test_unknown_key_id(services: Services) -> None:
    with services.db.session() as s, pytest.raises(KeyNotFound):
        services.keys.signer(s, "00" * 32)


def test_key_generation_is_journaled(services: Services) -> None:
    with services.db.session() as s:
        info = services.keys.generate(s, KeyAlgorithm.EC_P256, "journaled")
    with services.db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT action FROM audit_entry WHERE target=:t"), {"t": info.key_id}).all()
    assert [r[0] for r in rows] == ["key.generate"]
