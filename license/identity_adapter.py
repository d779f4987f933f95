"""The identity registry as the licence domain's :class:`license.holders.PersonDirectory`.

- A holder is a *person record* of identity/ (name + citizen ID, created only after a
  two-element match against the population DB), found by the keyed hash of the ID number.
- Its level is the assurance level of the account that person belongs to (identity/ keeps
  levels per account, from the verifications still in force); a person without an account
  has no level (0) and cannot receive licences.
- Wallet lookup (principal -> holder): the account (``Principal.subject`` = account id for
  people) must be active, linked to a person, and at L2 or higher; the holder is that
  person's citizen ID number, decrypted in memory only to compute the licence index.
"""

from __future__ import annotations

from sqlmodel import Session, select

from identity.models import AccountRecord
from identity.service import IdentityService
from license.holders import MIN_PERSON_LEVEL, HolderKindRef, HolderRef, RegisteredPerson

__all__ = ["IdentityPersonDirectory"]


class IdentityPersonDirectory:
    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity

    def _level(self, session: Session, account_id: str) -> int:
        level = self.identity.registry.level(session, account_id)
        return 0 if level is None else level.rank

    def person(self, session: Session, id_number: str) -> RegisteredPerson | None:
        rec = self.identity.registry.person_by_id_number(session, id_number)
        if rec is None:
            return None
        account = session.exec(select(AccountRecord).where(AccountRecord.person_id == rec.id)).first()
        level = self._level(session, account.id) if account is not None and account.active else 0
        return RegisteredPerson(rec.name, level)

    def holder_for_account(self, session: Session, account_id: str) -> HolderRef | None:
        account = session.get(AccountRecord, account_id)
        if account is None or not account.active or account.person_id is None:
            return None
        if self._level(session, account.id) < MIN_PERSON_LEVEL:
            return None
        rec = self.identity.registry.person(session, account.person_id)
        if rec is None:
            return None
        return HolderRef(HolderKindRef.PERSON, self.identity.registry.id_number(rec))
