"""The OAuth 2.0 token endpoint (RFC 6749 §3.2, §4.4; OIDC Core §3.1.3) and its grants.

Requests arrive as a parsed form (parameters at most once, RFC 6749 §3.2) plus what the client
presented to authenticate; the answer is the token response (RFC 6749 §5.1) or an
:class:`~identity.errors.OAuthError`. Each call runs in its own transactions so that a failed
client authentication can be journaled even though the request fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from core.audit import Journal
from identity.clients import ClientAuth, ClientInfo, ClientRegistry, GrantType, parse_scope
from identity.errors import InvalidClient, InvalidRequest, InvalidScope, UnauthorizedClient, UnsupportedGrantType
from identity.tokens import AccessTokens

__all__ = ["USER_SCOPES", "TokenEndpoint"]

log = logging.getLogger("ywt.identity")

#: Scopes about a person: meaningless without one, so never granted to client_credentials.
USER_SCOPES: Final = frozenset({"openid", "profile", "phone", "id_number", "entity", "offline_access", "email"})


class TokenEndpoint:
    def __init__(
        self,
        session_factory: Callable[[], Any],
        clients: ClientRegistry,
        access_tokens: AccessTokens,
        journal: Journal,
    ) -> None:
        self._sessions = session_factory
        self._clients = clients
        self._at = access_tokens
        self._journal = journal
        self._grants: dict[str, Callable[[ClientInfo, Mapping[str, str]], dict[str, Any]]] = {
            GrantType.CLIENT_CREDENTIALS.value: self._client_credentials,
        }

    def add_grant(self, grant: GrantType, handler: Callable[[ClientInfo, Mapping[str, str]], dict[str, Any]]) -> None:
        self._grants[grant.value] = handler

    def authenticate(self, auth: ClientAuth) -> ClientInfo:
        """Authenticate the client in its own transaction; a failure against a registered client
        is journaled (in a separate transaction, since the request itself fails)."""
        try:
            with self._sessions() as session:
                return self._clients.authenticate(session, auth)
        except InvalidClient as exc:
            if exc.attempted is not None:
                with self._sessions() as session:
                    self._journal.append(
                        session,
                        actor=f"client:{exc.attempted}",
                        action="identity.client.auth_failed",
                        target=exc.attempted,
                        data={"reason": exc.detail[:100]},
                    )
            log.warning("client authentication failed (%s)", exc.detail[:100])
            raise

    def token(self, auth: ClientAuth, form: Mapping[str, str]) -> dict[str, Any]:
        grant = form.get("grant_type")
        if not grant:
            raise InvalidRequest("grant_type is missing")
        if grant not in {g.value for g in GrantType}:
            raise UnsupportedGrantType(f"grant_type {grant[:40]!r} is not supported")
        client = self.authenticate(auth)
        if not client.allows_grant(GrantType(grant)):
            raise UnauthorizedClient(f"client {client.client_id} may not use {grant}")
        handler = self._grants.get(grant)
        if handler is None:
            raise UnsupportedGrantType(f"grant_type {grant} is not enabled")
        return handler(client, form)

    # -- client_credentials (RFC 6749 §4.4) ------------------------------------------------------

    def _client_credentials(self, client: ClientInfo, form: Mapping[str, str]) -> dict[str, Any]:
        allowed = client.spec.scopes - USER_SCOPES
        requested = parse_scope(form.get("scope"))
        if not requested:
            requested = allowed
        if not requested <= allowed:
            raise InvalidScope(
                f"not allowed for this client: {' '.join(sorted(requested - allowed))[:200]}",
                allowed=" ".join(sorted(allowed)),
            )
        spec = client.spec
        issued = self._at.issue(
            alg=spec.token_alg,
            client_id=spec.client_id,
            subject=spec.client_id,
            kind="client",
            scopes=requested,
            ttl=spec.access_token_ttl,
            roles=spec.roles,
            entity_uscc=spec.acts_for_uscc,
        )
        with self._sessions() as session:
            self._journal.append(
                session,
                actor=f"client:{spec.client_id}",
                action="identity.token.issue",
                target=issued.jti,
                data={"grant": "client_credentials", "scope": " ".join(sorted(requested)), "alg": issued.alg},
            )
        return {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": " ".join(sorted(requested)),
        }
