"""Identity API: register and verify a person, legal entities and their agents, the account's own
view and level upgrades. Callers are people (access tokens from our OIDC provider); identity
officers may record entities. Numbers are masked in every answer."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentPrincipal, Principal, RequireRoles
from api.deps import ServicesDep, SessionDep
from core.errors import Forbidden, InvalidInput
from identity.clients import parse_scope
from identity.levels import Level, Method
from identity.operators import Role

router = APIRouter(prefix="/identity/v1", tags=["identity"])


def person_principal(principal: CurrentPrincipal) -> Principal:
    """A person's token (authorization code flow) with scope ``openid``."""
    if principal.kind not in ("user", "operator"):
        raise Forbidden("this needs a person's access token, not a machine client's")
    if "openid" not in principal.scopes:
        raise Forbidden("the token lacks scope openid", required=["openid"])
    return principal


Person = Annotated[Principal, Depends(person_principal)]


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=40, description="citizen ID number (GB 11643)")
    phone: str | None = Field(default=None, max_length=30)


class EntityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=1, max_length=40, description="unified social credit code (GB 32100)")
    name: str = Field(min_length=1, max_length=200)
    legal_rep: str = Field(min_length=1, max_length=64, description="name of the legal representative")


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_name: str = Field(min_length=1, max_length=64)
    agent_id_number: str = Field(min_length=1, max_length=40)
    scope: str = Field(min_length=1, max_length=500, description="what the agent may do, space-separated")
    valid_until: datetime | None = None


class VerificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["population_2e", "telecom3", "bank_card4", "face_match"]
    name: str | None = Field(default=None, max_length=64, description="population_2e: the name")
    id_number: str | None = Field(default=None, max_length=40, description="population_2e: the citizen ID number")
    phone: str | None = Field(default=None, max_length=30, description="telecom3 / bank_card4: the phone")
    card_number: str | None = Field(default=None, max_length=40, description="bank_card4: the card number")
    face_image: str | None = Field(default=None, max_length=6_000_000, description="face_match: base64 image")


# --- the documented answers (the dicts the services build; validated on the way out) ----------

#: an ISO 8601 timestamp as the services write it (``datetime.isoformat()``), passed through as is
IsoDateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class VerificationOut(BaseModel):
    """One verification that raised the account's level."""

    level: Level
    method: Method
    source: str = Field(description="who checked: the base-data source, officer, national IdP, ...")
    verified_at: IsoDateTime
    evidence_ref: str = Field(description="reference of the check at its source (no personal number)")


class LevelOut(BaseModel):
    """The account's level after a verification, and that verification."""

    level: Level
    verification: VerificationOut


class AuthorisationOut(BaseModel):
    """A person's role for a legal entity: legal representative or authorised agent."""

    id: str
    uscc: str = Field(description="unified social credit code of the entity")
    name: str = Field(description="the entity's name")
    role: Literal["legal_representative", "agent"]
    scope: str = Field(description="what the agent may do, space-separated (empty for the legal representative)")
    valid_from: IsoDateTime
    valid_until: IsoDateTime | None
    active: bool


class EntityOut(BaseModel):
    """A registered legal entity; ``authorisation`` is the caller's legal representation, if any."""

    uscc: str
    authorisation: AuthorisationOut | None


class MePersonOut(BaseModel):
    """The person behind the account; numbers masked."""

    name: str
    id_number: str = Field(description="masked citizen ID number")
    phone: str | None = Field(description="masked phone number")


class MfaOut(BaseModel):
    totp: bool


class NationalAccountOut(BaseModel):
    issuer: str = Field(description="issuer of the linked national IdP account")
    linked_at: IsoDateTime


class MeOut(BaseModel):
    """What an account holder may see about themselves (numbers masked)."""

    account: str
    username: str
    display_name: str
    level: Level | None
    verifications: list[VerificationOut]
    person: MePersonOut | None
    phone: str | None = Field(description="masked phone number of the account")
    entities: list[AuthorisationOut]
    mfa: MfaOut
    national_account: NationalAccountOut | None
    roles: list[Role]


@router.post("/persons", status_code=201, response_model=LevelOut)
async def register_person(body: PersonIn, who: Person, services: ServicesDep) -> dict[str, Any]:
    """Register the caller as a natural person: two-element check against the population DB (L2)."""
    done = await services.identity.verifier.register_person(
        who.subject, body.name, body.id_number, body.phone, actor=who.actor
    )
    return {"level": done.level.value, "verification": done.as_dict()}


@router.get("/me", response_model=MeOut)
def me(who: Person, services: ServicesDep, session: SessionDep) -> dict[str, Any]:
    """The account, its level and the methods that reached it, the person, entities, links."""
    return services.identity.me(session, who.subject)


@router.post("/me/verifications", status_code=201, response_model=LevelOut)
async def upgrade(body: VerificationIn, who: Person, services: ServicesDep) -> dict[str, Any]:
    """Raise the assurance level: population_2e (L2), telecom3 / bank_card4 / face_match (L3)."""
    verifier = services.identity.verifier
    if body.method == "population_2e":
        if not body.name or not body.id_number:
            raise InvalidInput("population_2e needs name and id_number")
        done = await verifier.register_person(who.subject, body.name, body.id_number, body.phone, actor=who.actor)
    else:
        image = None
        if body.face_image is not None:
            try:
                image = base64.b64decode(body.face_image, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("face_image is not base64") from None
        done = await verifier.upgrade(
            who.subject,
            Method(body.method),
            actor=who.actor,
            phone=body.phone,
            card_number=body.card_number,
            face_image=image,
        )
    return {"level": done.level.value, "verification": done.as_dict()}


@router.post("/entities", status_code=201, response_model=EntityOut)
async def register_entity(body: EntityIn, who: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Register a legal entity checked against the legal-entity DB. A person who is its legal
    representative becomes so in the registry; an identity officer only records the entity."""
    officer = "identity_officer" in who.roles or "administrator" in who.roles
    if who.kind == "client" and not officer:
        raise Forbidden("this needs a person's access token or the identity_officer role")
    account = None if officer and who.kind == "client" else person_principal(who).subject
    auth = await services.identity.verifier.register_entity(
        account, body.uscc, body.name, body.legal_rep, actor=who.actor
    )
    return {"uscc": body.uscc.strip().upper(), "authorisation": auth.as_dict() if auth else None}


@router.post("/entities/{uscc}/agents", status_code=201, response_model=AuthorisationOut)
async def authorise_agent(uscc: str, body: AgentIn, who: Person, services: ServicesDep) -> dict[str, Any]:
    """The legal representative authorises a registered person (name + citizen ID) as an agent."""
    scope = tuple(sorted(parse_scope(body.scope)))
    if not scope:
        raise InvalidInput("scope must not be empty")
    auth = await services.identity.verifier.authorise_agent(
        who.subject, uscc, body.agent_name, body.agent_id_number, scope, body.valid_until, actor=who.actor
    )
    return auth.as_dict()


@router.post("/entities/{uscc}/agents/{authorisation_id}/revoke", response_model=AuthorisationOut)
async def revoke_agent(uscc: str, authorisation_id: str, who: Person, services: ServicesDep) -> dict[str, Any]:
    auth = await services.identity.verifier.revoke_agent(who.subject, uscc, authorisation_id, actor=who.actor)
    return auth.as_dict()


class InPersonCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["counter", "certificate"]
    evidence_ref: str = Field(min_length=1, max_length=80, description="receipt number of the counter check")


@router.post("/accounts/{username}/verifications", status_code=201, response_model=MeOut)
def record_in_person_check(
    username: str,
    body: InPersonCheckIn,
    who: Annotated[Principal, Depends(RequireRoles("identity_officer"))],
    services: ServicesDep,
    session: SessionDep,
) -> dict[str, Any]:
    """An identity officer records a counter or certificate check (L4) for a verified (L2) person."""
    return services.identity.record_in_person_check(
        session, username, Method(body.method), body.evidence_ref, actor=who.actor
    )
