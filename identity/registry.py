"""The registry in the database: persons, legal entities, authorisations, verifications.

Database work only (every method takes the caller's session); the base-data checks that feed
it are :mod:`identity.verification`'s. Personal numbers go in encrypted with their blind index
(``core.pii``) and come out masked; only :meth:`Registry.id_number` decrypts, for the code that
must query a source with it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from core.pii import PiiVault
from identity.errors import AlreadyRegistered, UnknownAuthorisation, UnknownEntity, UnknownPerson
from identity.levels import Level, Method, max_level
from identity.models import (
    AccountRecord,
    AuthorisationRecord,
    EntityRecordRow,
    FederatedLink,
    PersonRecord,
    VerificationRecord,
)
from identity.numbers import mask_id_number, mask_phone, normalize_phone, validate_id_number
from identity.pii import masked_repr, pii
from identity.sources.base import EntityRecord, normalize_name

__all__ = ["AuthorisationView", "PersonView", "Registry", "VerificationView"]

ROLE_LEGAL_REP = "legal_representative"
ROLE_AGENT = "agent"


@dataclass(frozen=True)
class VerificationView:
    level: Level
    method: str
    source: str
    verified_at: datetime
    evidence_ref: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "method": self.method,
            "source": self.source,
            "verified_at": self.verified_at.isoformat(),
            "evidence_ref": self.evidence_ref,
        }


@dataclass(frozen=True, repr=False)
class PersonView:
    id: str
    name: str
    id_number_masked: str = field(metadata=pii(mask_id_number))
    phone_masked: str | None

    __repr__ = masked_repr


@dataclass(frozen=True)
class AuthorisationView:
    id: str
    entity_uscc: str
    entity_name: str
    role: str
    scope: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    person_id: str

    @property
    def active(self) -> bool:
        now = clock.now()
        return (
            self.revoked_at is None and self.valid_from <= now and (self.valid_until is None or self.valid_until > now)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.entity_uscc,
            "name": self.entity_name,
            "role": self.role,
            "scope": " ".join(self.scope),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "active": self.active,
        }


def _new_id() -> str:
    return secrets.token_hex(16)


class Registry:
    def __init__(self, pii_vault: PiiVault, journal: Journal) -> None:
        self._pii = pii_vault
        self._journal = journal

    # -- verifications and levels ------------------------------------------------------------

    def record_verification(
        self,
        session: Session,
        account_id: str,
        *,
        level: Level,
        method: Method,
        source: str,
        evidence_ref: str,
        person_id: str | None,
        actor: str,
        valid_until: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> VerificationRecord:
        rec = VerificationRecord(
            id=_new_id(),
            account_id=account_id,
            person_id=person_id,
            level=level.value,
            method=method.value,
            source=source,
            evidence_ref=evidence_ref,
            verified_at=clock.now(),
            valid_until=valid_until,
        )
        session.add(rec)
        self._journal.append(
            session,
            actor=actor,
            action="identity.verification.record",
            target=account_id,
            data={
                "level": level.value,
                "method": method.value,
                "source": source,
                "evidence": evidence_ref,
                **(data or {}),
            },
        )
        return rec

    def verifications(self, session: Session, account_id: str) -> list[VerificationView]:
        now = clock.now()
        rows = session.exec(
            select(VerificationRecord)
            .where(VerificationRecord.account_id == account_id)
            .order_by(col(VerificationRecord.verified_at))
        ).all()
        return [
            VerificationView(Level(r.level), r.method, r.source, r.verified_at, r.evidence_ref)
            for r in rows
            if r.valid_until is None or r.valid_until > now
        ]

    def level(self, session: Session, account_id: str) -> Level | None:
        return max_level([v.level for v in self.verifications(session, account_id)])

    # -- persons ---------------------------------------------------------------------------------

    def person(self, session: Session, person_id: str | None) -> PersonRecord | None:
        return session.get(PersonRecord, person_id) if person_id else None

    def person_view(self, rec: PersonRecord) -> PersonView:
        phone = self._pii.decrypt("phone", rec.phone_enc) if rec.phone_enc is not None else None
        return PersonView(rec.id, rec.name, rec.id_number_masked, mask_phone(phone) if phone else None)

    def id_number(self, rec: PersonRecord) -> str:
        return self._pii.decrypt("id_number", rec.id_number_enc)

    def person_by_id_number(self, session: Session, id_number: str) -> PersonRecord | None:
        idx = self._pii.index("id_number", validate_id_number(id_number))
        return session.exec(select(PersonRecord).where(PersonRecord.id_number_idx == idx)).first()

    def check_can_link(self, session: Session, account: AccountRecord, id_number: str) -> None:
        """Refuse before asking a source: the account already has a person, or the ID number is
        another account's (one account per person)."""
        if account.person_id is not None:
            raise AlreadyRegistered("this account already has a verified person", reason="account_has_person")
        existing = self.person_by_id_number(session, id_number)
        if existing is not None:
            owner = session.exec(select(AccountRecord).where(AccountRecord.person_id == existing.id)).first()
            if owner is not None and owner.id != account.id:
                raise AlreadyRegistered("this citizen ID number is registered to another account", reason="id_taken")

    def link_person(
        self, session: Session, account: AccountRecord, name: str, id_number: str, phone: str | None, *, actor: str
    ) -> PersonRecord:
        """Create (or reuse an unlinked) person record and link it to ``account``."""
        self.check_can_link(session, account, id_number)
        number = validate_id_number(id_number)
        rec = self.person_by_id_number(session, number)
        if rec is None:
            rec = PersonRecord(
                id=_new_id(),
                name=normalize_name(name, "name"),
                id_number_enc=self._pii.encrypt("id_number", number),
                id_number_idx=self._pii.index("id_number", number),
                id_number_masked=mask_id_number(number),
                created_at=clock.now(),
            )
        if phone is not None:
            p = normalize_phone(phone)
            rec.phone_enc, rec.phone_idx = self._pii.encrypt("phone", p), self._pii.index("phone", p)
        session.add(rec)
        session.flush()
        account.person_id = rec.id
        account.display_name = rec.name
        account.updated_at = clock.now()
        session.add(account)
        session.flush()
        self._journal.append(
            session,
            actor=actor,
            action="identity.person.link",
            target=account.id,
            data={"person": rec.id, "id_number": rec.id_number_masked},
        )
        return rec

    # -- entities and authorisations ----------------------------------------------------------

    def upsert_entity(
        self, session: Session, record: EntityRecord, evidence_ref: str, *, actor: str
    ) -> EntityRecordRow:
        now = clock.now()
        row = session.get(EntityRecordRow, record.uscc)
        if row is None:
            row = EntityRecordRow(
                uscc=record.uscc,
                name=record.name,
                legal_rep=record.legal_rep,
                status=record.status.value,
                verified_at=now,
                evidence_ref=evidence_ref,
                created_at=now,
            )
        else:
            row.name, row.legal_rep, row.status = record.name, record.legal_rep, record.status.value
            row.verified_at, row.evidence_ref = now, evidence_ref
        session.add(row)
        session.flush()
        self._journal.append(
            session,
            actor=actor,
            action="identity.entity.verify",
            target=record.uscc,
            data={"name": record.name, "status": record.status.value, "evidence": evidence_ref},
        )
        return row

    def entity(self, session: Session, uscc: str) -> EntityRecordRow:
        row = session.get(EntityRecordRow, uscc) if isinstance(uscc, str) and len(uscc) <= 18 else None
        if row is None:
            raise UnknownEntity(f"no registered entity {uscc[:18]!r}", uscc=uscc[:18])
        return row

    def authorise(
        self,
        session: Session,
        entity_uscc: str,
        person_id: str,
        *,
        role: str,
        scope: tuple[str, ...],
        valid_until: datetime | None,
        granted_by: str,
        actor: str,
    ) -> AuthorisationRecord:
        now = clock.now()
        rec = AuthorisationRecord(
            id=_new_id(),
            entity_uscc=entity_uscc,
            person_id=person_id,
            role=role,
            scope=" ".join(scope),
            valid_from=now,
            valid_until=valid_until,
            granted_by=granted_by,
            created_at=now,
        )
        session.add(rec)
        self._journal.append(
            session,
            actor=actor,
            action="identity.authorisation.grant",
            target=rec.id,
            data={
                "entity": entity_uscc,
                "person": person_id,
                "role": role,
                "scope": rec.scope,
                "valid_until": valid_until.isoformat() if valid_until else None,
            },
        )
        return rec

    def revoke_authorisation(
        self, session: Session, entity_uscc: str, auth_id: str, *, actor: str
    ) -> AuthorisationRecord:
        rec = session.get(AuthorisationRecord, auth_id) if len(auth_id) <= 32 else None
        if rec is None or rec.entity_uscc != entity_uscc:
            raise UnknownAuthorisation(f"no authorisation {auth_id[:32]!r} for this entity")
        if rec.revoked_at is None:
            rec.revoked_at, rec.revoked_by = clock.now(), actor
            session.add(rec)
            self._journal.append(
                session,
                actor=actor,
                action="identity.authorisation.revoke",
                target=auth_id,
                data={"entity": entity_uscc},
            )
        return rec

    def authorisations(
        self, session: Session, *, person_id: str | None = None, entity_uscc: str | None = None
    ) -> list[AuthorisationView]:
        q = select(AuthorisationRecord, EntityRecordRow).where(AuthorisationRecord.entity_uscc == EntityRecordRow.uscc)
        if person_id is not None:
            q = q.where(AuthorisationRecord.person_id == person_id)
        if entity_uscc is not None:
            q = q.where(AuthorisationRecord.entity_uscc == entity_uscc)
        out = []
        for auth, entity in session.exec(q.order_by(col(AuthorisationRecord.created_at))).all():
            out.append(
                AuthorisationView(
                    auth.id,
                    auth.entity_uscc,
                    entity.name,
                    auth.role,
                    tuple(auth.scope.split()),
                    auth.valid_from,
                    auth.valid_until,
                    auth.revoked_at,
                    auth.person_id,
                )
            )
        return out

    def active_authorisations(self, session: Session, person_id: str | None) -> list[AuthorisationView]:
        if person_id is None:
            return []
        return [a for a in self.authorisations(session, person_id=person_id) if a.active]

    def require_person(self, session: Session, name: str, id_number: str) -> PersonRecord:
        """A registered person whose name matches (to name an agent); else :class:`UnknownPerson`."""
        rec = self.person_by_id_number(session, id_number)
        if rec is None or rec.name != normalize_name(name, "name"):
            raise UnknownPerson("no registered person with this name and citizen ID number")
        return rec

    def national_link(self, session: Session, account_id: str) -> FederatedLink | None:
        return session.exec(select(FederatedLink).where(FederatedLink.account_id == account_id)).first()
