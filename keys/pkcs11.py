"""PKCS#11 key backend: private keys generated and used inside a hardware (or SoftHSM) token.

The token never releases a private key (``CKA_SENSITIVE`` true, ``CKA_EXTRACTABLE`` false); the
database keeps only the public key and a reference to the object, written as an RFC 7512
PKCS#11 URI (``pkcs11:token=ywt;id=%01%02…;object=…``) in ``KeyRecord.handle``.

Signatures are byte-for-byte what the soft store's :class:`keys.signer.LocalSigner` returns, so
no caller can tell where a key lives:

* RSA PKCS#1 v1.5 / PSS with SHA-256: ``CKM_SHA256_RSA_PKCS`` / ``CKM_SHA256_RSA_PKCS_PSS``
  (PKCS#11 v2.40 §2.1.9, §2.1.11; PSS with MGF1-SHA-256 and a 32-byte salt as RFC 4055 §3.1).
* ECDSA P-256 with SHA-256: the digest is computed here and signed with plain ``CKM_ECDSA``
  (§2.3.6), which every token offers (SoftHSM 2.6 has no ``CKM_ECDSA_SHA256``). The token returns
  the raw ``r || s`` (§2.3.1); it is re-encoded as DER ``ECDSA-Sig-Value`` (RFC 5480 §2.2 /
  X9.62), minimal integers, exactly as pyca/cryptography writes it.
* SM2 is refused: SoftHSM2 and most PKCS#11 tokens have no SM2 mechanism (vendor extensions
  differ and are not standardised in PKCS#11 v2.40/3.0), so SM2 keys stay in the soft store.

Calls into the module are serialised per process (see ``_MODULE_LOCK``). The library is loaded
lazily on first use: uvicorn workers are separate processes and each must call ``C_Initialize``
itself (PKCS#11 v2.40 §5.4: a forked child may not use the parent's initialised library).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from core import clock
from keys import crypto
from keys.algorithms import Family, KeyAlgorithm, SignatureScheme
from keys.errors import HsmLoginFailed, HsmUnavailable, InvalidKey, KeyNotFound, UnsupportedByToken
from keys.models import KeyRecord
from keys.signer import check_scheme

#: name of this backend in ``KeyRecord.backend`` and ``KeyStore.generate(backend=...)``
BACKEND_NAME = "pkcs11"
_P256_ORDER_BYTES = 32


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the token is: the vendor's module, the token label and the user PIN."""

    module: str
    token: str
    pin: str

    def __repr__(self) -> str:  # the PIN never appears in logs or tracebacks
        return f"Pkcs11Config(module={self.module!r}, token={self.token!r}, pin=<redacted>)"


def object_uri(token: str, object_id: bytes, label: str) -> str:
    """RFC 7512 PKCS#11 URI naming one object of one token (percent-encoded id)."""
    quote = urllib.parse.quote
    pct_id = "".join(f"%{b:02x}" for b in object_id)
    return f"pkcs11:token={quote(token, safe='')};id={pct_id};object={quote(label, safe='')}"


def parse_uri(uri: str) -> tuple[str, bytes]:
    """(token label, CKA_ID) from a PKCS#11 URI written by :func:`object_uri`."""
    if not uri.startswith("pkcs11:"):
        raise InvalidKey("the key handle is not a PKCS#11 URI")
    attrs: dict[str, str] = {}
    for part in uri[len("pkcs11:") :].split(";"):
        name, sep, value = part.partition("=")
        if sep:
            attrs[name] = value
    if "token" not in attrs or "id" not in attrs:
        raise InvalidKey("the PKCS#11 URI names no token or no object id")
    return urllib.parse.unquote(attrs["token"]), urllib.parse.unquote_to_bytes(attrs["id"])


def _spki_rsa(modulus: bytes, exponent: bytes) -> bytes:
    pub = rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _spki_p256(ec_point_attr: bytes) -> bytes:
    from asn1crypto import core as asn1core

    # CKA_EC_POINT is the DER OCTET STRING holding the X9.62 point (PKCS#11 v2.40 §2.3.3)
    point = bytes(asn1core.OctetString.load(ec_point_attr).native)
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """PKCS#11 ECDSA output ``r || s`` (each the size of the group order) -> DER SEQ{r, s}."""
    if len(raw) != 2 * _P256_ORDER_BYTES:
        raise HsmUnavailable(f"the token returned a {len(raw)}-byte ECDSA signature, expected 64")
    r = int.from_bytes(raw[:_P256_ORDER_BYTES], "big")
    s = int.from_bytes(raw[_P256_ORDER_BYTES:], "big")
    return crypto.ecdsa_der(r, s)


#: python-pkcs11 calls ``C_Initialize(NULL)``, which promises the module that the application will
#: not call it from several threads at once (PKCS#11 v2.40 §5.4) — SoftHSM2 then runs without its
#: own mutexes and crashes under concurrent calls. Every call into the module is serialised by this
#: process-wide lock; throughput scales with worker processes, each with its own session.
_MODULE_LOCK = threading.RLock()


class _Token:
    """The loaded module and one logged-in session (per process)."""

    def __init__(self, config: Pkcs11Config, *, after_fork: bool = False) -> None:
        self.config = config
        self.pid = os.getpid()
        with _MODULE_LOCK:
            try:
                lib = pkcs11.lib(config.module)
                if after_fork:
                    lib.reinitialize()  # C_Finalize + C_Initialize in this process
            except (RuntimeError, OSError) as exc:
                raise HsmUnavailable(
                    f"cannot load the PKCS#11 module {config.module}", module=config.module
                ) from exc
            try:
                self.token = lib.get_token(token_label=config.token)
            except pkcs11.NoSuchToken as exc:
                raise HsmUnavailable(f"no PKCS#11 token labelled {config.token!r}", token=config.token) from exc
            except pkcs11.PKCS11Error as exc:
                raise HsmUnavailable(f"token {config.token!r}: {type(exc).__name__}", token=config.token) from exc
            self.session_ = self._login()

    def _login(self) -> Any:
        config = self.config
        try:
            return self.token.open(rw=True, user_pin=config.pin)
        except pkcs11.UserAlreadyLoggedIn:
            # PKCS#11 login state belongs to the application (v2.40 §5.6): another backend object of
            # this process holds it (tests); share it
            return self.token.open(rw=True)
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as exc:
            raise HsmLoginFailed(
                f"PKCS#11 login to token {config.token!r} failed: the PIN is incorrect", token=config.token
            ) from exc
        except pkcs11.PinLocked as exc:
            raise HsmLoginFailed(f"the PIN of token {config.token!r} is locked", token=config.token) from exc
        except pkcs11.PKCS11Error as exc:
            raise HsmLoginFailed(
                f"PKCS#11 login to token {config.token!r} failed: {type(exc).__name__}", token=config.token
            ) from exc

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """The session, held under the module lock for the duration of the block."""
        with _MODULE_LOCK:
            yield self.session_

    def close(self) -> None:
        with _MODULE_LOCK, contextlib.suppress(pkcs11.PKCS11Error):
            self.session_.close()


class Pkcs11Signer:
    """A :class:`keys.signer.Signer` whose private key is an object in the token."""

    __slots__ = ("_algorithm", "_backend", "_key_id", "_object_id", "_spki")

    def __init__(
        self, backend: Pkcs11Backend, algorithm: KeyAlgorithm, key_id: str, spki: bytes, object_id: bytes
    ) -> None:
        self._backend = backend
        self._algorithm = algorithm
        self._key_id = key_id
        self._spki = spki
        self._object_id = object_id

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self._algorithm}, key_id={self._key_id[:16]}…)"

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    @property
    def scheme(self) -> SignatureScheme:
        return self._algorithm.default_scheme

    @property
    def public_key_der(self) -> bytes:
        return self._spki

    def sign(self, data: bytes, scheme: SignatureScheme | None = None) -> bytes:
        sch = scheme or self.scheme
        check_scheme(self._algorithm, sch)
        with self._backend.token().session() as sess:
            try:
                key = sess.get_key(object_class=ObjectClass.PRIVATE_KEY, id=self._object_id)
            except pkcs11.NoSuchKey as exc:
                raise KeyNotFound(self._key_id) from exc
            try:
                if sch is SignatureScheme.ECDSA_SHA256:
                    raw = key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                    return ecdsa_raw_to_der(bytes(raw))
                if sch is SignatureScheme.RSA_PSS_SHA256:
                    return bytes(
                        key.sign(
                            data,
                            mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                            mechanism_param=(Mechanism.SHA256, pkcs11.MGF.SHA256, 32),
                        )
                    )
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            except pkcs11.PKCS11Error as exc:
                raise HsmUnavailable(f"the token refused to sign: {type(exc).__name__}") from exc


class Pkcs11Backend:
    """:class:`keys.store.KeyBackend` over one PKCS#11 token."""

    name = BACKEND_NAME

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def token(self) -> _Token:
        tok = self._token
        if tok is None or tok.pid != os.getpid():
            with self._lock:
                tok = self._token
                if tok is None or tok.pid != os.getpid():
                    tok = self._token = _Token(self.config, after_fork=tok is not None)
        return tok

    def check(self) -> None:
        """Open the token and log in now (start-up check: a wrong PIN fails here, not mid-request)."""
        self.token()

    def close(self) -> None:
        with self._lock:
            if self._token is not None and self._token.pid == os.getpid():
                self._token.close()
            self._token = None

    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyRecord:
        if algorithm.family is Family.SM2:
            raise UnsupportedByToken(
                "SM2 keys cannot be generated in the PKCS#11 token (no standard SM2 mechanism; SoftHSM2 has "
                "none): SM2 keys stay in the soft store",
                algorithm=algorithm.value,
                backend=self.name,
            )
        object_id = secrets.token_bytes(16)
        obj_label = label[:100]
        common = {Attribute.TOKEN: True, Attribute.ID: object_id, Attribute.LABEL: obj_label}
        private = common | {
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public = common | {Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False}
        with self.token().session() as sess:
            try:
                if algorithm.family is Family.RSA:
                    pub, _ = sess.generate_keypair(
                        KeyType.RSA,
                        algorithm.rsa_bits,
                        store=True,
                        public_template=public | {Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
                        private_template=private,
                    )
                    spki = _spki_rsa(pub[Attribute.MODULUS], pub[Attribute.PUBLIC_EXPONENT])
                else:
                    params = sess.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                    )
                    pub, _ = params.generate_keypair(store=True, public_template=public, private_template=private)
                    spki = _spki_p256(pub[Attribute.EC_POINT])
            except pkcs11.PKCS11Error as exc:
                raise HsmUnavailable(f"key generation in the token failed: {type(exc).__name__}") from exc
        kid = crypto.key_id(spki)
        return KeyRecord(
            key_id=kid,
            algorithm=algorithm.value,
            label=label,
            backend=self.name,
            created_at=clock.now(),
            public_key_der=spki,
            private_blob=None,
            handle=object_uri(self.config.token, object_id, obj_label),
            exportable=False,
        )

    def signer(self, record: KeyRecord) -> Pkcs11Signer:
        if record.handle is None:
            raise KeyNotFound(record.key_id)
        token_label, object_id = parse_uri(record.handle)
        if token_label != self.config.token:
            raise HsmUnavailable(
                f"key {record.key_id[:16]}… lives in token {token_label!r}, "
                f"but token {self.config.token!r} is configured",
                token=token_label,
            )
        algorithm = KeyAlgorithm(record.algorithm)
        with self.token().session() as sess:
            try:
                pub = sess.get_key(object_class=ObjectClass.PUBLIC_KEY, id=object_id)
                sess.get_key(object_class=ObjectClass.PRIVATE_KEY, id=object_id)
            except pkcs11.NoSuchKey as exc:
                raise KeyNotFound(record.key_id) from exc
            if algorithm.family is Family.RSA:
                spki = _spki_rsa(pub[Attribute.MODULUS], pub[Attribute.PUBLIC_EXPONENT])
            else:
                spki = _spki_p256(pub[Attribute.EC_POINT])
        if crypto.key_id(spki) != record.key_id:
            raise InvalidKey("the token object does not hold the key recorded for this key id")
        return Pkcs11Signer(self, algorithm, record.key_id, spki, object_id)
