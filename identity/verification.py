"""Verification against the base-data sources, and what it does to the registry.

Each operation: validate the input (a malformed number never reaches a source), refuse what the
database already rules out, ask the source (async, on the event loop that owns the circuit
breakers), then write the result in one transaction (run in a worker thread). A source that
gives no answer raises :class:`~identity.errors.SourceUnavailable` (HTTP 503, try later) and
nothing is written; a "no" from the source is :class:`~identity.errors.VerificationFailed` (422)
and the attempt is journaled (masked) in a transaction of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
from sqlmodel import Session

from core import clock
from core.audit import Journal
from core.errors import InvalidInput
from identity.accounts import Accounts
from identity.errors import LevelTooLow, NotLegalRepresentative, VerificationFailed
from identity.levels import LEVEL_OF_METHOD, REQUIRES, Level, Method
from identity.numbers import mask_card_number, mask_id_number, mask_phone
from identity.registry import ROLE_AGENT, ROLE_LEGAL_REP, AuthorisationView, Registry, VerificationView
from identity.sources import (
    BankCard4Query,
    ElementOutcome,
    EntityOutcome,
    EntityQuery,
    FaceOutcome,
    FaceQuery,
    PersonOutcome,
    PersonQuery,
    Sources,
    Telecom3Query,
)
from identity.sources.base import normalize_name

__all__ = ["Verifier"]

T = TypeVar("T")


def _evidence(source: str) -> str:
    """An opaque reference that ties the verification row to the journal entry of the check."""
    return f"{source}:{secrets.token_hex(10)}"


class Verifier:
    def __init__(
        self,
        session_factory: Callable[[], Any],
        registry: Registry,
        accounts: Accounts,
        journal: Journal,
        sources: Callable[[], Sources],
    ) -> None:
        self._sessions = session_factory
        self._registry = registry
        self._accounts = accounts
        self._journal = journal
        self._sources = sources

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._sessions() as session:
                return fn(session)

        return await anyio.to_thread.run_sync(run)

    async def _denied(self, account_id: str, method: str, outcome: str, data: dict[str, Any], actor: str) -> None:
        def write(session: Session) -> None:
            self._journal.append(
                session,
                actor=actor,
                action="identity.verification.denied",
                target=account_id,
                data={"method": method, "outcome": outcome, **data},
            )

        await self._db(write)

    # -- persons (L2) ----------------------------------------------------------------------------

    async def register_person(
        self, account_id: str, name: str, id_number: str, phone: str | None, *, actor: str
    ) -> VerificationView:
        """Two-element check against the population DB; on a match the person is linked at L2."""
        query = PersonQuery(name=name, id_number=id_number)  # validates (GB 11643), normalises
        masked = {"id_number": mask_id_number(query.id_number)}

        def precheck(session: Session) -> None:
            account = self._accounts.get(session, account_id)
            self._registry.check_can_link(session, account, query.id_number)

        await self._db(precheck)
        result = await self._sources().population.check(query)
        if result.outcome is not PersonOutcome.MATCH:
            outcome = "not_eligible" if result.outcome is PersonOutcome.DECEASED else "mismatch"
            await self._denied(account_id, Method.POPULATION.value, outcome, masked, actor)
            raise VerificationFailed(Method.POPULATION.value, outcome)
        evidence = _evidence("population")

        def write(session: Session) -> VerificationView:
            account = self._accounts.get(session, account_id)
            person = self._registry.link_person(session, account, query.name, query.id_number, phone, actor=actor)
            self._registry.record_verification(
                session,
                account_id,
                level=Level.L2,
                method=Method.POPULATION,
                source="population",
                evidence_ref=evidence,
                person_id=person.id,
                actor=actor,
                data=masked,
            )
            return self._registry.verifications(session, account_id)[-1]

        return await self._db(write)

    # -- upgrades (L3) ---------------------------------------------------------------------------

    async def upgrade(
        self,
        account_id: str,
        method: Method,
        *,
        actor: str,
        phone: str | None = None,
        card_number: str | None = None,
        face_image: bytes | None = None,
    ) -> VerificationView:
        """Raise the level with a second binding (telecom-3, bank-card-4, face match)."""
        if method not in (Method.TELECOM3, Method.BANK_CARD4, Method.FACE_MATCH):
            raise VerificationFailed(method.value, "method_not_available", f"{method.value} is not an online upgrade")

        def load(session: Session) -> tuple[str, str, str | None, str]:
            account = self._accounts.get(session, account_id)
            current = self._registry.level(session, account_id)
            needed = REQUIRES[method]
            person = self._registry.person(session, account.person_id)
            if person is None or current is None or current < needed:
                raise LevelTooLow(needed.value, current.value if current else None)
            return person.name, self._registry.id_number(person), self._accounts.phone(account), person.id

        name, id_number, account_phone, person_id = await self._db(load)
        sources = self._sources()
        data: dict[str, Any] = {"id_number": mask_id_number(id_number)}
        if method is Method.TELECOM3:
            number = phone or account_phone
            if number is None:
                raise VerificationFailed(method.value, "phone_missing", "telecom3 needs a phone number")
            t_query = Telecom3Query(name=name, id_number=id_number, phone=number)
            data["phone"] = mask_phone(t_query.phone)
            ok = (await sources.telecom3.check(t_query)).outcome is ElementOutcome.MATCH
            outcome, source = "mismatch", "telecom3"
        elif method is Method.BANK_CARD4:
            number = phone or account_phone
            if card_number is None or number is None:
                raise VerificationFailed(method.value, "elements_missing", "bank_card4 needs a card number and a phone")
            b_query = BankCard4Query(name=name, id_number=id_number, card_number=card_number, phone=number)
            data.update(card=mask_card_number(b_query.card_number), phone=mask_phone(b_query.phone))
            ok = (await sources.bank_card4.check(b_query)).outcome is ElementOutcome.MATCH
            outcome, source = "mismatch", "bank_card4"
        else:
            f_query = FaceQuery(id_number=id_number, image=face_image or b"")
            result = await sources.face_match.match(f_query)
            data["score"] = result.score
            ok = result.outcome is FaceOutcome.PASSED
            outcome, source = "face_failed", "face_match"
        if not ok:
            await self._denied(account_id, method.value, outcome, data, actor)
            raise VerificationFailed(method.value, outcome)
        evidence = _evidence(source)

        def write(session: Session) -> VerificationView:
            self._registry.record_verification(
                session,
                account_id,
                level=LEVEL_OF_METHOD[method],
                method=method,
                source=source,
                evidence_ref=evidence,
                person_id=person_id,
                actor=actor,
                data=data,
            )
            return self._registry.verifications(session, account_id)[-1]

        return await self._db(write)

    # -- legal entities ---------------------------------------------------------------------------

    async def register_entity(
        self, account_id: str | None, uscc: str, name: str, legal_rep: str, *, actor: str
    ) -> AuthorisationView | None:
        """Check an entity against the legal-entity DB and record it.

        With an ``account_id`` the caller must be an L2 person whose verified name is the
        registered legal representative; they become its ``legal_representative``. Without
        (an identity officer), the entity is only recorded.
        """
        query = EntityQuery(uscc=uscc, name=name, legal_rep=legal_rep)
        person_id = None
        if account_id is not None:

            def check_rep(session: Session) -> str:
                account = self._accounts.get(session, account_id)
                level = self._registry.level(session, account_id)
                person = self._registry.person(session, account.person_id)
                if person is None or level is None or level < Level.L2:
                    raise LevelTooLow(Level.L2.value, level.value if level else None)
                if person.name != query.legal_rep:
                    raise NotLegalRepresentative("your verified name is not the legal representative given")
                return person.id

            person_id = await self._db(check_rep)
        result = await self._sources().legal_entity.check(query)
        if result.outcome is not EntityOutcome.MATCH:
            outcome = "mismatch" if result.outcome is EntityOutcome.NOT_FOUND else result.outcome.value
            await self._denied(account_id or "-", "legal_entity", outcome, {"uscc": query.uscc}, actor)
            raise VerificationFailed("legal_entity", outcome)
        record = await self._sources().legal_entity.lookup(query.uscc)
        if record is None:  # the source changed its mind between two calls: no answer is safer
            raise VerificationFailed("legal_entity", "mismatch")
        evidence = _evidence("legal_entity")

        def write(session: Session) -> AuthorisationView | None:
            self._registry.upsert_entity(session, record, evidence, actor=actor)
            if person_id is None:
                return None
            existing = [
                a
                for a in self._registry.authorisations(session, person_id=person_id, entity_uscc=record.uscc)
                if a.active and a.role == ROLE_LEGAL_REP
            ]
            if not existing:
                self._registry.authorise(
                    session,
                    record.uscc,
                    person_id,
                    role=ROLE_LEGAL_REP,
                    scope=("*",),
                    valid_until=None,
                    granted_by="legal_entity_db",
                    actor=actor,
                )
                session.flush()
            return next(
                a
                for a in self._registry.authorisations(session, person_id=person_id, entity_uscc=record.uscc)
                if a.active and a.role == ROLE_LEGAL_REP
            )

        return await self._db(write)

    async def authorise_agent(
        self,
        account_id: str,
        uscc: str,
        agent_name: str,
        agent_id_number: str,
        scope: tuple[str, ...],
        valid_until: datetime | None,
        *,
        actor: str,
    ) -> AuthorisationView:
        """The legal representative authorises a registered person to act for the entity."""
        name = normalize_name(agent_name, "agent_name")
        if valid_until is not None:
            if valid_until.tzinfo is None:
                raise InvalidInput("valid_until needs a time zone (e.g. 2030-01-01T00:00:00+08:00)")
            if valid_until <= clock.now():
                raise InvalidInput("valid_until is in the past")

        def write(session: Session) -> AuthorisationView:
            account = self._accounts.get(session, account_id)
            self._registry.entity(session, uscc)
            reps = [
                a
                for a in self._registry.active_authorisations(session, account.person_id)
                if a.entity_uscc == uscc and a.role == ROLE_LEGAL_REP
            ]
            if not reps:
                raise NotLegalRepresentative("only the legal representative authorises agents")
            agent = self._registry.require_person(session, name, agent_id_number)
            rec = self._registry.authorise(
                session,
                uscc,
                agent.id,
                role=ROLE_AGENT,
                scope=scope,
                valid_until=valid_until,
                granted_by=f"person:{account.person_id}",
                actor=actor,
            )
            session.flush()
            return next(a for a in self._registry.authorisations(session, entity_uscc=uscc) if a.id == rec.id)

        return await self._db(write)

    async def revoke_agent(self, account_id: str, uscc: str, auth_id: str, *, actor: str) -> AuthorisationView:
        def write(session: Session) -> AuthorisationView:
            account = self._accounts.get(session, account_id)
            reps = [
                a
                for a in self._registry.active_authorisations(session, account.person_id)
                if a.entity_uscc == uscc and a.role == ROLE_LEGAL_REP
            ]
            if not reps:
                raise NotLegalRepresentative("only the legal representative revokes agents")
            self._registry.revoke_authorisation(session, uscc, auth_id, actor=actor)
            session.flush()
            return next(a for a in self._registry.authorisations(session, entity_uscc=uscc) if a.id == auth_id)

        return await self._db(write)
