"""``ywt client ...`` and ``ywt token-keys ...``: the client registry and the token-signing keys
from the command line (translation only; the identity service decides)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.container import build_services
from core.settings import Settings
from identity.clients import AuthMethod, ClientInfo, ClientSpec, ClientType, GrantType, SubjectType
from keys import Family


def _print_client(client: ClientInfo, as_json: bool, secret: str | None = None) -> None:
    data = client.public_dict()
    if as_json:
        if secret is not None:
            data["client_secret"] = secret
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        if value in (None, [], ""):
            continue
        shown = f"{len(value['keys'])} key(s)" if key == "jwks" else value
        print(f"{key:28} {' '.join(shown) if isinstance(shown, list) else shown}")
    if secret is not None:
        print(f"{'client_secret':28} {secret}")
        print("(the secret is shown only now; only its hash is kept)", file=sys.stderr)


def _jwks(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def cmd_client_add(args: argparse.Namespace, settings: Settings) -> int:
    auth = AuthMethod(args.auth) if args.auth else (AuthMethod.NONE if args.public else AuthMethod.CLIENT_SECRET_BASIC)
    grants = args.grant or (["authorization_code", "refresh_token"] if args.redirect_uri else ["client_credentials"])
    spec = ClientSpec(
        client_id=args.client_id,
        name=args.name or args.client_id,
        client_type=ClientType.PUBLIC if args.public else ClientType.CONFIDENTIAL,
        auth_method=auth,
        grant_types=frozenset(GrantType(g) for g in grants),
        scopes=frozenset((args.scope or "").split()),
        redirect_uris=tuple(args.redirect_uri or ()),
        post_logout_redirect_uris=tuple(args.post_logout_redirect_uri or ()),
        token_alg=args.alg,
        subject_type=SubjectType(args.subject),
        sector_identifier=args.sector,
        acts_for_uscc=args.acts_for,
        roles=frozenset(args.role or ()),
        access_token_ttl=args.ttl,
        jwks=_jwks(args.jwks),
    )
    services = build_services(settings)
    try:
        with services.db.session() as session:
            client, secret = services.identity.clients.create(session, spec, secret=args.secret, actor="cli")
    finally:
        services.close()
    _print_client(client, args.json, secret)
    return 0


def cmd_client_list(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            clients = services.identity.clients.list(session)
    finally:
        services.close()
    if args.json:
        print(json.dumps([c.public_dict() for c in clients], ensure_ascii=False, indent=2))
        return 0
    for c in clients:
        s = c.spec
        state = "active" if c.active else "DISABLED"
        grants = ",".join(sorted(g.value for g in s.grant_types))
        print(f"{s.client_id:24} {state:8} {s.auth_method.value:20} {s.token_alg:6} {grants:40} {s.name}")
    return 0


def cmd_client_show(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            client = services.identity.clients.get(session, args.client_id)
    finally:
        services.close()
    _print_client(client, args.json)
    return 0


def cmd_client_update(args: argparse.Namespace, settings: Settings) -> int:
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.scope is not None:
        changes["scopes"] = frozenset(args.scope.split())
    if args.redirect_uri is not None:
        changes["redirect_uris"] = tuple(args.redirect_uri)
    if args.post_logout_redirect_uri is not None:
        changes["post_logout_redirect_uris"] = tuple(args.post_logout_redirect_uri)
    if args.alg is not None:
        changes["token_alg"] = args.alg
    if args.ttl is not None:
        changes["access_token_ttl"] = args.ttl
    if args.acts_for is not None:
        changes["acts_for_uscc"] = args.acts_for or None
    if args.role is not None:
        changes["roles"] = frozenset(r for r in args.role if r)
    if args.jwks is not None:
        changes["jwks"] = _jwks(args.jwks)
    services = build_services(settings)
    try:
        with services.db.session() as session:
            client = services.identity.clients.update(session, args.client_id, changes, actor="cli")
    finally:
        services.close()
    _print_client(client, args.json)
    return 0


def cmd_client_state(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            client = services.identity.clients.set_active(session, args.client_id, args.enable, actor="cli")
    finally:
        services.close()
    print(f"{client.client_id}: {'enabled' if client.active else 'disabled'}")
    return 0


def cmd_client_secret(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            client, secret = services.identity.clients.rotate_secret(session, args.client_id, actor="cli")
    finally:
        services.close()
    _print_client(client, args.json, secret)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            keys = services.identity.keys.all(session)
    finally:
        services.close()
    for k in keys:
        until = f" published until {k.publish_until:%Y-%m-%d %H:%M}" if k.publish_until else ""
        print(f"{k.kid}  {k.alg:6} {k.status:8} cert {k.cert_serial[:16]}…{until}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    families = [Family(args.family)] if args.family else list(Family)
    try:
        with services.db.session() as session:
            for family in families:
                key = services.identity.keys.rotate(session, family, actor="cli")
                print(f"{key.alg}: new active key {key.kid}; the previous one stays published until its tokens expire")
    finally:
        services.close()
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    services = build_services(settings)
    try:
        with services.db.session() as session:
            key = services.identity.keys.revoke(session, args.kid, actor="cli")
    finally:
        services.close()
    print(f"{key.kid}: revoked (certificate {key.cert_serial} revoked; withdrawn from the JWKS)")
    return 0


def _client_metadata_options(s: argparse.ArgumentParser, adding: bool) -> None:
    s.add_argument("--name", help="display name (client_name)")
    s.add_argument("--scope", help='allowed scopes, space-separated, e.g. "seal:sign license:issue"')
    s.add_argument("--redirect-uri", action="append", help="exact redirect URI (repeat for several)")
    s.add_argument("--post-logout-redirect-uri", action="append", help="exact post-logout redirect URI")
    s.add_argument("--alg", default="RS256" if adding else None, help="token signing alg: RS256, ES256 or SM2")
    s.add_argument("--ttl", type=int, default=600 if adding else None, help="access token lifetime, seconds")
    s.add_argument("--acts-for", help="USCC of the legal entity a machine client acts for")
    s.add_argument("--role", action="append", help="operator role held by a machine client (repeat)")
    s.add_argument("--jwks", help="file with the client's public JWK Set (private_key_jwt)")
    s.add_argument("--json", action="store_true")


def add_commands(sub: Any) -> None:
    """Register ``client`` and ``token-keys`` on the ``ywt`` parser."""
    client = sub.add_parser("client", help="OAuth/OIDC client registry").add_subparsers(
        dest="client_command", required=True
    )
    s = client.add_parser("add", help="register a client (a generated secret is printed once)")
    s.add_argument("client_id")
    _client_metadata_options(s, adding=True)
    s.add_argument("--public", action="store_true", help="public client (no secret; PKCE required)")
    s.add_argument("--auth", choices=[m.value for m in AuthMethod], help="token_endpoint_auth_method")
    s.add_argument("--grant", action="append", choices=[g.value for g in GrantType], help="grant type (repeat)")
    s.add_argument("--subject", default="public", choices=["public", "pairwise"], help="sub type for this client")
    s.add_argument("--sector", help="pairwise sector identifier (default: the redirect URIs' host)")
    s.add_argument("--secret", help="use this secret (>= 16 characters) instead of a generated one")
    s.set_defaults(func=cmd_client_add)
    s = client.add_parser("list", help="list clients")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_client_list)
    s = client.add_parser("show", help="one client's metadata")
    s.add_argument("client_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_client_show)
    s = client.add_parser("update", help="change metadata (absent options keep their value)")
    s.add_argument("client_id")
    _client_metadata_options(s, adding=False)
    s.set_defaults(func=cmd_client_update)
    for name, enable in (("disable", False), ("enable", True)):
        s = client.add_parser(name, help=f"{name} a client")
        s.add_argument("client_id")
        s.set_defaults(func=cmd_client_state, enable=enable)
    s = client.add_parser("rotate-secret", help="new generated secret (printed once; the old one stops working)")
    s.add_argument("client_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_client_secret)

    keys = sub.add_parser("token-keys", help="OIDC token-signing keys").add_subparsers(
        dest="token_keys_command", required=True
    )
    s = keys.add_parser("list", help="keys with status (active / retired / revoked)")
    s.set_defaults(func=cmd_keys_list)
    s = keys.add_parser("rotate", help="new active key; the old one stays in the JWKS until its tokens expire")
    s.add_argument("--family", choices=[f.value for f in Family])
    s.set_defaults(func=cmd_keys_rotate)
    s = keys.add_parser("revoke", help="withdraw a key at once (compromise): its certificate is revoked")
    s.add_argument("kid")
    s.set_defaults(func=cmd_keys_revoke)
