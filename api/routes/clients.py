"""Operator API of the client registry (role ``client_manager``): register, list, change, disable
clients and rotate their secrets. Metadata names follow RFC 7591 §2."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from api.auth import Principal, RequireRoles
from api.deps import ServicesDep, SessionDep
from identity.clients import AuthMethod, ClientInfo, ClientSpec, ClientType, GrantType, SubjectType
from identity.jose import SIGNING_ALGS
from identity.operators import Role

router = APIRouter(prefix="/identity/v1/clients", tags=["identity: clients"])

Manager = Annotated[Principal, Depends(RequireRoles("client_manager"))]


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(max_length=64)
    client_name: str = Field(max_length=200)
    client_type: ClientType = ClientType.CONFIDENTIAL
    token_endpoint_auth_method: AuthMethod = AuthMethod.CLIENT_SECRET_BASIC
    grant_types: list[GrantType] = Field(default=[GrantType.CLIENT_CREDENTIALS], max_length=3)
    scope: str = Field(default="", max_length=2000)
    redirect_uris: list[str] = Field(default=[], max_length=20)
    post_logout_redirect_uris: list[str] = Field(default=[], max_length=20)
    token_signing_alg: str = Field(default="RS256", max_length=10)
    subject_type: SubjectType = SubjectType.PUBLIC
    sector_identifier: str | None = Field(default=None, max_length=200)
    acts_for: str | None = Field(
        default=None, max_length=40, description="USCC of the entity a machine client acts for"
    )
    roles: list[str] = Field(default=[], max_length=10)
    access_token_ttl: int = 600
    jwks: dict[str, Any] | None = None
    client_secret: str | None = Field(default=None, max_length=200, description="omit to have one generated")

    def spec(self) -> ClientSpec:
        return ClientSpec(
            client_id=self.client_id,
            name=self.client_name,
            client_type=self.client_type,
            auth_method=self.token_endpoint_auth_method,
            grant_types=frozenset(self.grant_types),
            scopes=frozenset(self.scope.split()),
            redirect_uris=tuple(self.redirect_uris),
            post_logout_redirect_uris=tuple(self.post_logout_redirect_uris),
            token_alg=self.token_signing_alg,
            subject_type=self.subject_type,
            sector_identifier=self.sector_identifier,
            acts_for_uscc=self.acts_for,
            roles=frozenset(self.roles),
            access_token_ttl=self.access_token_ttl,
            jwks=self.jwks,
        )


class ClientPatch(BaseModel):
    """Changeable metadata; absent fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    client_name: str | None = Field(default=None, max_length=200)
    token_endpoint_auth_method: AuthMethod | None = None
    grant_types: list[GrantType] | None = Field(default=None, max_length=3)
    scope: str | None = Field(default=None, max_length=2000)
    redirect_uris: list[str] | None = Field(default=None, max_length=20)
    post_logout_redirect_uris: list[str] | None = Field(default=None, max_length=20)
    token_signing_alg: str | None = Field(default=None, max_length=10)
    subject_type: SubjectType | None = None
    sector_identifier: str | None = Field(default=None, max_length=200)
    acts_for: str | None = Field(default=None, max_length=40)
    roles: list[str] | None = Field(default=None, max_length=10)
    access_token_ttl: int | None = None
    jwks: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        names = {
            "client_name": "name",
            "token_endpoint_auth_method": "auth_method",
            "token_signing_alg": "token_alg",
            "acts_for": "acts_for_uscc",
            "scope": "scopes",
        }
        out: dict[str, Any] = {}
        for key in self.model_fields_set:
            value = getattr(self, key)
            if key == "scope":
                value = frozenset((value or "").split())
            elif key in ("grant_types", "roles") and value is not None:
                value = frozenset(value)
            elif key in ("redirect_uris", "post_logout_redirect_uris") and value is not None:
                value = tuple(value)
            out[names.get(key, key)] = value
        return out


class ClientOut(BaseModel):
    """A registered client's metadata (RFC 7591 §3.2.1 names); never its secret or the secret's hash."""

    client_id: str
    client_name: str
    client_type: ClientType
    token_endpoint_auth_method: AuthMethod
    grant_types: list[GrantType]
    scope: str = Field(description="allowed scopes, space-separated")
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    token_signing_alg: str = Field(json_schema_extra={"enum": list(SIGNING_ALGS)})
    subject_type: SubjectType
    sector_identifier: str | None
    acts_for: str | None = Field(description="USCC of the entity a machine client acts for")
    roles: list[Role]
    access_token_ttl: int = Field(description="seconds")
    jwks: dict[str, Any] | None = Field(description="the public JWK Set (RFC 7517) of a private_key_jwt client")
    active: bool


class ClientWithSecretOut(ClientOut):
    """A client's metadata with its secret, which is shown only in this answer (only its hash is kept)."""

    client_secret: str


class ClientCreatedOut(ClientOut):
    """A newly registered client; a secret-based client's secret is shown here, once (a public or
    ``private_key_jwt`` client has none, and the member is absent)."""

    client_secret: str | SkipJsonSchema[None] = None


def _out(client: ClientInfo, secret: str | None = None) -> dict[str, Any]:
    body = client.public_dict()
    if secret is not None:
        body["client_secret"] = secret  # shown once; only its hash is kept
    return body


@router.get("", response_model=list[ClientOut])
def list_clients(services: ServicesDep, session: SessionDep, _: Manager) -> list[dict[str, Any]]:
    return [_out(c) for c in services.identity.clients.list(session)]


@router.post("", status_code=201, response_model=ClientCreatedOut, response_model_exclude_unset=True)
def create_client(body: ClientIn, services: ServicesDep, session: SessionDep, who: Manager) -> dict[str, Any]:
    """Register a client. A generated secret (or the chosen one) is in the answer, once."""
    client, secret = services.identity.clients.create(session, body.spec(), secret=body.client_secret, actor=who.actor)
    return _out(client, secret)


@router.get("/{client_id}", response_model=ClientOut)
def get_client(client_id: str, services: ServicesDep, session: SessionDep, _: Manager) -> dict[str, Any]:
    return _out(services.identity.clients.get(session, client_id))


@router.patch("/{client_id}", response_model=ClientOut)
def update_client(
    client_id: str, body: ClientPatch, services: ServicesDep, session: SessionDep, who: Manager
) -> dict[str, Any]:
    return _out(services.identity.clients.update(session, client_id, body.changes(), actor=who.actor))


@router.post("/{client_id}/secret", response_model=ClientWithSecretOut)
def rotate_secret(client_id: str, services: ServicesDep, session: SessionDep, who: Manager) -> dict[str, Any]:
    """A new generated secret; the old one stops working at once."""
    client, secret = services.identity.clients.rotate_secret(session, client_id, actor=who.actor)
    return _out(client, secret)


@router.post("/{client_id}/disable", response_model=ClientOut)
def disable_client(client_id: str, services: ServicesDep, session: SessionDep, who: Manager) -> dict[str, Any]:
    return _out(services.identity.clients.set_active(session, client_id, False, actor=who.actor))


@router.post("/{client_id}/enable", response_model=ClientOut)
def enable_client(client_id: str, services: ServicesDep, session: SessionDep, who: Manager) -> dict[str, Any]:
    return _out(services.identity.clients.set_active(session, client_id, True, actor=who.actor))
