"""Who is calling: one dependency per kind of caller, behind one switchable token verifier.

Routes declare what they need (``RequireScopes("seal:sign")``, ``RequireRoles(Role.SEAL_MANAGER)``);
how a bearer token becomes a :class:`Principal` is the business of the verifier installed in the
service container (``services.token_verifier``, provided by identity/ — our own OIDC access
tokens). Routes never parse tokens themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

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


@dataclass(frozen=True)
class Access:
    """What an operator endpoint requires, attached to its dependency so that it can be read back
    from the app's routes (``tests/api/test_access_control.py`` walks every route with it).

    ``roles``: operator roles, any one of which admits (administrator holds all). ``scopes``:
    alternatively, a machine client whose token has one of these scopes (e.g. a department's
    approval system issuing its own licences). ``holder``: alternatively, a person reading their own
    records.
    """

    roles: frozenset[str]
    scopes: frozenset[str] = frozenset()
    holder: bool = False


_F = TypeVar("_F", bound=Callable[..., Any])


def requires(*roles: str, scopes: tuple[str, ...] = (), holder: bool = False) -> Callable[[_F], _F]:
    """Declare on a dependency function the operator roles it checks (see :class:`Access`)."""

    def mark(fn: _F) -> _F:
        fn.ywt_access = Access(frozenset(roles), frozenset(scopes), holder)  # type: ignore[attr-defined]
        return fn

    return mark


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _dependency_calls(dep)


def route_access(route: Any) -> Access | None:
    """The :class:`Access` a route's dependencies declare (merged), or ``None`` for a route without
    an operator-role check."""
    found = [a for call in _dependency_calls(route.dependant) if (a := getattr(call, "ywt_access", None))]
    if not found:
        return None
    return Access(
        frozenset().union(*(a.roles for a in found)),
        frozenset().union(*(a.scopes for a in found)),
        any(a.holder for a in found),
    )


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

    @requires(*roles)
    def dep(principal: CurrentPrincipal) -> Principal:
        if "administrator" in principal.roles or set(roles) & principal.roles:
            return principal
        raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}", required=sorted(roles))

    return dep
