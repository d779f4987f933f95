"""Who is calling: one dependency per kind of caller, behind one switchable token verifier.

Routes declare what they need (``RequireScopes("seal:sign")``, ``RequireRoles(Role.SEAL_MANAGER)``);
how a bearer token becomes a :class:`Principal` is the business of the verifier installed in the
service container (``services.token_verifier``, provided by identity/ — our own OIDC access
tokens). Routes never parse tokens themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request

from api.deps import ServicesDep
from api.ratelimit import enforce_client_limits
from core.errors import Forbidden, Unauthenticated


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``kind`` is ``client`` (a machine client, client_credentials), ``user`` (a person through
    our OIDC provider) or ``operator`` (a user holding operator roles).
    """

    subject: str
    kind: str
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    entity_uscc: str | None = None  # the legal entity a client or agent acts for
    acr: str | None = None
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """How this caller is named in the audit journal."""
        return f"{self.kind}:{self.subject}"


class TokenVerifier(Protocol):
    def __call__(self, token: str) -> Principal:
        """Return the principal for a valid access token; raise ``Unauthenticated`` otherwise."""
        ...


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer access token is required", www_authenticate="Bearer")
    return token.strip()


def current_principal(request: Request, services: ServicesDep) -> Principal:
    verifier: TokenVerifier | None = getattr(services, "token_verifier", None)
    if verifier is None:
        raise Unauthenticated("token authentication is not configured")
    principal = verifier(_bearer(request))
    request.state.principal = principal  # read by the access log (client id) and rate limits
    enforce_client_limits(request, principal.client_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def RequireScopes(*scopes: str) -> Callable[..., Principal]:
    """Dependency: a principal whose token grants every one of ``scopes``."""

    def dep(principal: CurrentPrincipal) -> Principal:
        missing = set(scopes) - principal.scopes
        if missing:
            raise Forbidden(f"the token lacks scope(s) {' '.join(sorted(missing))}", required=sorted(scopes))
        return principal

    return dep


def RequireRoles(*roles: str) -> Callable[..., Principal]:
    """Dependency: an operator holding at least one of ``roles`` (administrator holds all)."""

    def dep(principal: CurrentPrincipal) -> Principal:
        if "administrator" in principal.roles or set(roles) & principal.roles:
            return principal
        raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}", required=sorted(roles))

    return dep
