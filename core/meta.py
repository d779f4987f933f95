"""Small key/value table for installation facts (master-key check value, schema notes)."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel

from core.secrets import MasterKey, MasterKeyError


class CoreMeta(SQLModel, table=True):
    __tablename__ = "core_meta"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=2000)


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(CoreMeta, key)
    return None if row is None else row.value


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(CoreMeta, key)
    if row is None:
        session.add(CoreMeta(key=key, value=value))
    else:
        row.value = value
        session.add(row)


def bind_master_key(session: Session, master: MasterKey) -> bool:
    """Record the master key's check value on first use; refuse a different key afterwards.

    Returns True when the key was bound now (fresh installation). Nothing is written when the
    key does not match, so a wrong ``YWT_MASTER_KEY`` can never re-encrypt or overwrite data.
    """
    stored = get_meta(session, "master_key_check")
    value = master.check_value()
    if stored is None:
        set_meta(session, "master_key_check", value)
        return True
    if stored != value:
        raise MasterKeyError(
            "the master key does not match the one this installation was created with; "
            "refusing to start (no key or data was changed)"
        )
    return False
