#!/usr/bin/env python3
"""Identity benchmark: tokens issued and verified per second (RS256, ES256, SM2), logins per second
with our argon2id parameters — each against raw ``keys/`` signing / verifying measured in the same run.

    python bench/identity.py [--seconds 2] [--home DIR] [--database-url URL]

What is measured (single thread, in process, on a fresh installation with the demo data):

* raw sign / verify: ``Signer.sign`` and ``keys.verify`` of a 300-byte message with the token-signing key;
* token issue: the full ``client_credentials`` grant as the token endpoint runs it (client
  authentication with a generated secret, scope check, RFC 9068 claims, signature through keys/,
  journal entry committed) — and the same with the argon2id-hashed demo secret (steady state:
  successful checks are memoised, identity/hashing.py) next to one uncached argon2id verification;
* token sign only: claims + JWS signature, no database;
* verify: signature, header and claims checks only (``decode``), and the full bearer check
  (``verify``: plus the revocation lookup in the database);
* login: a correct password through the lockout bookkeeping (argon2id verify + one UPDATE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout: python bench/identity.py

from api.container import Services, build_services, initialise
from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET, CITIZEN_PASSWORD, CITIZEN_USER
from core.settings import Settings
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType
from identity.hashing import ARGON2_PARAMETERS
from identity.jose import SCHEME_BY_ALG
from keys import verify


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per second (and the median latency in ms) over about ``seconds``."""
    fn()  # warm up (caches, first connection)
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return len(samples) / sum(samples), statistics.median(samples) * 1000


def basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bench_alg(services: Services, alg: str, auth: str, message: bytes, seconds: float) -> None:
    identity = services.identity
    form = {"grant_type": "client_credentials"}
    _, signer = identity.keys.signer(services.db.session, alg)
    scheme = SCHEME_BY_ALG[alg]
    signature = signer.sign(message, scheme)
    spki = signer.public_key_der
    token = identity.token(auth, form)["access_token"]
    measures: list[tuple[str, Callable[[], object]]] = [
        ("raw keys/ sign", lambda: signer.sign(message, scheme)),
        ("raw keys/ verify", lambda: verify(spki, scheme, message, signature)),
        (
            "token sign only (claims + JWS)",
            lambda: identity.access_tokens.issue(
                alg=alg, client_id="c", subject="c", kind="client", scopes=["seal:sign"], ttl=600
            ),
        ),
        ("token issue (client_credentials)", lambda: identity.token(auth, form)),
        ("token verify: signature + claims", lambda: identity.access_tokens.decode(token)),
        ("token verify: + revocation (DB)", lambda: identity.verify_access_token(token)),
    ]
    r: dict[str, float] = {}
    for name, fn in measures:
        per_s, ms = rate(fn, seconds)
        r[name] = per_s
        print(f"{alg:6} {name:34} {per_s:10.1f} {ms:10.2f}", flush=True)
    print(
        f"{alg:6} ratios to raw keys/: issue {r['token issue (client_credentials)'] / r['raw keys/ sign']:.2f}, "
        f"sign-only {r['token sign only (claims + JWS)'] / r['raw keys/ sign']:.2f}, "
        f"verify {r['token verify: signature + claims'] / r['raw keys/ verify']:.2f}, "
        f"verify+DB {r['token verify: + revocation (DB)'] / r['raw keys/ verify']:.2f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    p.add_argument("--home", help="installation directory (default: a temporary one)")
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    args = p.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="ywt-bench-"))
    for key in [k for k in os.environ if k.startswith("YWT_")]:
        os.environ.pop(key)
    settings = Settings(home=home, database_url=args.database_url, env="test", demo=True)  # type: ignore[arg-type]
    print(f"setting up an installation in {home} ({settings.sqlalchemy_url.split(':')[0]}) ...", flush=True)
    services: Services = build_services(settings)
    initialise(services, demo=True)
    identity = services.identity
    secrets: dict[str, str] = {}
    with services.db.session() as s:
        for alg in ("RS256", "ES256", "SM2"):
            cid = f"bench-{alg.lower()}"
            if identity.clients.find(s, cid) is None:
                _, secret = identity.clients.create(
                    s,
                    ClientSpec(
                        client_id=cid,
                        name=cid,
                        client_type=ClientType.CONFIDENTIAL,
                        auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                        grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
                        scopes=frozenset({"seal:sign"}),
                        token_alg=alg,
                    ),
                    actor="bench",
                )
                assert secret is not None
                secrets[alg] = secret
    message = os.urandom(300)
    form = {"grant_type": "client_credentials"}
    print(f"argon2id parameters: {ARGON2_PARAMETERS}")
    print(f"{'alg':6} {'measure':34} {'per s':>10} {'median ms':>10}")
    for alg in ("RS256", "ES256", "SM2"):
        bench_alg(services, alg, basic(f"bench-{alg.lower()}", secrets[alg]), message, args.seconds)
    demo_auth = basic(APPROVAL_CLIENT, APPROVAL_SECRET)
    per_s, ms = rate(lambda: identity.token(demo_auth, form), args.seconds)
    print(f"{'RS256':6} {'issue, argon2id secret (memoised)':34} {per_s:10.1f} {ms:10.2f}   (demo-approval)")
    with services.db.session() as s:
        from identity.models import ClientRecord

        record = s.get(ClientRecord, APPROVAL_CLIENT)
        assert record is not None and record.secret_hash is not None
        stored = record.secret_hash
    per_s, ms = rate(lambda: identity.hasher.verify(stored, APPROVAL_SECRET), args.seconds)
    print(f"{'-':6} {'argon2id verify (first check)':34} {per_s:10.1f} {ms:10.2f}")

    def login() -> None:
        with services.db.session() as s:
            result = identity.accounts.check_password(s, CITIZEN_USER, CITIZEN_PASSWORD)
            assert result.account_id is not None

    per_s, ms = rate(login, args.seconds)
    print(f"{'-':6} {'login (argon2id + lockout update)':34} {per_s:10.1f} {ms:10.2f}")
    per_s, ms = rate(lambda: identity.hasher.hash_password("a-password-of-sorts"), args.seconds)
    print(f"{'-':6} {'argon2id hash (new password)':34} {per_s:10.1f} {ms:10.2f}")
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
