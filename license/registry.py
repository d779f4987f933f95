"""Licence types in the database: the built-ins seeded, operators' types added without code changes.

A definition is the JSON of :class:`license.types.LicenseType` and is validated by building
that object (a contradictory type cannot be stored). Types are versioned: an update adds a
version (``template_version`` + 1) and never rewrites an old one, so every licence names the
definition it was rendered from and can be re-read years later. The holder kind of a type
never changes (its licences' holders are persons or entities for good).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from license.errors import DuplicateLicenseType, InvalidLicenseType, UnknownLicenseType
from license.models import LicenseTypeRow, LicenseTypeVersionRow
from license.types import LicenseType, builtin_types

__all__ = ["TypeInfo", "add_type", "ensure_builtin_types", "get_type", "list_types", "set_type_active", "update_type"]

BUILTIN_ACTOR = "ywt-builtin"
MAX_DEFINITION_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A stored type: its current definition and registry facts."""

    license_type: LicenseType
    version: int
    active: bool
    builtin: bool
    created_at: datetime
    updated_at: datetime

    @property
    def type_code(self) -> str:
        return self.license_type.type_code


def _sha(definition: str) -> str:
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()


#: Extension elements the service adds itself (the data-hash salt): not for types to map.
RESERVED_ELEMENT_PREFIX = "KZ_YWT_"


def _parse(definition: object) -> LicenseType:
    if isinstance(definition, str | bytes):
        if len(definition) > MAX_DEFINITION_BYTES:
            raise InvalidLicenseType("", f"a type definition has at most {MAX_DEFINITION_BYTES} bytes")
        t = LicenseType.from_json(definition)
    else:
        if len(json.dumps(definition, ensure_ascii=False, default=str)) > MAX_DEFINITION_BYTES:
            raise InvalidLicenseType("", f"a type definition has at most {MAX_DEFINITION_BYTES} bytes")
        t = LicenseType.from_dict(definition)
    for element, _ in t.metadata:
        if element.startswith(RESERVED_ELEMENT_PREFIX):
            raise InvalidLicenseType(f"metadata.{element}", f"{RESERVED_ELEMENT_PREFIX}* elements are reserved")
    return t


def _with_version(t: LicenseType, version: int) -> LicenseType:
    data = t.to_dict()
    data["template_version"] = version
    return LicenseType.from_dict(data)


def _info(row: LicenseTypeRow, version: LicenseTypeVersionRow) -> TypeInfo:
    return TypeInfo(
        LicenseType.from_json(version.definition),
        version.version,
        row.active,
        row.builtin,
        row.created_at,
        row.updated_at,
    )


def _store_version(session: Session, t: LicenseType, actor: str) -> LicenseTypeVersionRow:
    text = t.to_json()
    v = LicenseTypeVersionRow(
        type_code=t.type_code,
        version=t.template_version,
        definition=text,
        sha256=_sha(text),
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(v)
    return v


def ensure_builtin_types(session: Session, journal: Journal) -> list[str]:
    """Seed the built-in types (idempotent); a changed built-in definition becomes a new version.

    A built-in type an operator has since updated is left alone: the operator's version wins.
    Returns the type codes added or updated.
    """
    changed: list[str] = []
    for code, shipped in builtin_types().items():
        row = session.get(LicenseTypeRow, code)
        if row is None:
            now = clock.now()
            t = _with_version(shipped, 1)
            session.add(
                LicenseTypeRow(
                    type_code=code,
                    name=t.name,
                    holder_kind=t.holder_kind.value,
                    current_version=1,
                    active=True,
                    builtin=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            _store_version(session, t, BUILTIN_ACTOR)
            session.flush()
            journal.append(session, actor=BUILTIN_ACTOR, action="license.type.add", target=code, data={"version": 1})
            changed.append(code)
            continue
        current = session.get(LicenseTypeVersionRow, (code, row.current_version))
        if current is None or current.created_by != BUILTIN_ACTOR:
            continue
        candidate = _with_version(shipped, row.current_version)
        if _sha(candidate.to_json()) == current.sha256:
            continue
        version = row.current_version + 1
        _store_version(session, _with_version(shipped, version), BUILTIN_ACTOR)
        row.current_version, row.updated_at, row.name = version, clock.now(), shipped.name
        session.add(row)
        session.flush()
        journal.append(
            session, actor=BUILTIN_ACTOR, action="license.type.update", target=code, data={"version": version}
        )
        changed.append(code)
    return changed


def list_types(session: Session, *, include_inactive: bool = True) -> list[TypeInfo]:
    rows = session.exec(select(LicenseTypeRow).order_by(col(LicenseTypeRow.type_code))).all()
    out: list[TypeInfo] = []
    for row in rows:
        if not include_inactive and not row.active:
            continue
        version = session.get(LicenseTypeVersionRow, (row.type_code, row.current_version))
        if version is not None:
            out.append(_info(row, version))
    return out


def get_type(session: Session, type_code: str, version: int | None = None) -> TypeInfo:
    """The type's current definition (or ``version``); :class:`UnknownLicenseType` if there is none."""
    if not isinstance(type_code, str) or len(type_code) > 21:
        raise UnknownLicenseType(str(type_code)[:40])
    row = session.get(LicenseTypeRow, type_code)
    if row is None:
        raise UnknownLicenseType(type_code)
    v = session.get(LicenseTypeVersionRow, (type_code, version or row.current_version))
    if v is None:
        raise UnknownLicenseType(f"{type_code} v{version}")
    return _info(row, v)


def add_type(session: Session, journal: Journal, definition: object, *, actor: str) -> TypeInfo:
    """Store a new type from its JSON definition (validated); it starts at version 1, active."""
    t = _with_version(_parse(definition), 1)
    if session.get(LicenseTypeRow, t.type_code) is not None:
        raise DuplicateLicenseType(t.type_code)
    now = clock.now()
    row = LicenseTypeRow(
        type_code=t.type_code,
        name=t.name,
        holder_kind=t.holder_kind.value,
        current_version=1,
        active=True,
        builtin=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    version = _store_version(session, t, actor)
    session.flush()
    journal.append(
        session,
        actor=actor,
        action="license.type.add",
        target=t.type_code,
        data={"version": 1, "name": t.name, "sha256": version.sha256},
    )
    return _info(row, version)


def update_type(session: Session, journal: Journal, type_code: str, definition: object, *, actor: str) -> TypeInfo:
    """Add a new version of an existing type; the type code and holder kind must stay the same."""
    row = session.get(LicenseTypeRow, type_code)
    if row is None:
        raise UnknownLicenseType(type_code)
    parsed = _parse(definition)
    if parsed.type_code != type_code:
        raise InvalidLicenseType("type_code", "must be the code of the type being updated")
    if parsed.holder_kind.value != row.holder_kind:
        raise InvalidLicenseType("holder_kind", f"cannot change: licences of this type are held by {row.holder_kind}")
    current = session.get(LicenseTypeVersionRow, (type_code, row.current_version))
    if current is not None and _sha(_with_version(parsed, row.current_version).to_json()) == current.sha256:
        return _info(row, current)  # nothing changed: no new version
    new_version = row.current_version + 1
    t = _with_version(parsed, new_version)
    version = _store_version(session, t, actor)
    row.current_version, row.name, row.updated_at = new_version, t.name, clock.now()
    session.add(row)
    session.flush()
    journal.append(
        session,
        actor=actor,
        action="license.type.update",
        target=type_code,
        data={"version": new_version, "sha256": version.sha256},
    )
    return _info(row, version)


def set_type_active(session: Session, journal: Journal, type_code: str, active: bool, *, actor: str) -> TypeInfo:
    """Stop (or resume) issuing licences of a type; existing licences are untouched."""
    row = session.get(LicenseTypeRow, type_code)
    if row is None:
        raise UnknownLicenseType(type_code)
    if row.active != active:
        row.active, row.updated_at = active, clock.now()
        session.add(row)
        session.flush()
        journal.append(
            session,
            actor=actor,
            action="license.type.activate" if active else "license.type.deactivate",
            target=type_code,
        )
    return get_type(session, type_code)
