"""The licence service: issuance, corrections, status changes, queries, wallet (DESIGN.md "Licences").

Issuance (:meth:`LicenseService.issue`) runs in three steps so that no lock is held while the PDF
is drawn:

1. *prepare* (short transaction): the type (active, current template), the data validated and
   normalised, the validity computed, the holder checked (person registered at >= L2 with the
   same name, or entity active in the legal-entity DB), the licence number free, the issuer's
   seal found, a serial allocated from a per (type, issuer, year) counter, the QR key loaded;
2. *render* (no transaction): GB/T 36903 metadata with a random salt, the signed QR payload
   over its hash, the PDF;
3. *store* (one transaction): the lineage row inserted first — the unique (type, issuer,
   number) constraint decides any race for a number, before anything is signed —, the PDF
   sealed through seal/ (certification, B-T), the blob stored, the licence row written, journaled.

Bad input fails in step 1, so nothing is stored. A number lost in a race (step 3) rolls back
everything but the serial counter (a gap, as with any database sequence) and possibly an
unreferenced content-addressed blob.

Who may do what (callers are described by :class:`Caller`, built from the HTTP principal by
api/): an issuer's machine client acts for its issuer only; operators holding the
``license_issuer`` role (or administrators) for any issuer; a holder reads their own licences.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ca.service import CaService, next_counter
from core import clock, metrics
from core.audit import Journal
from core.blobs import BlobStore
from core.db import Database
from core.errors import YwtError
from core.pii import PiiVault
from core.settings import Settings
from identity.numbers import mask_id_number
from identity.sources import LegalEntitySource
from keys import Family
from license import qr as qrmod
from license import registry
from license.errors import (
    DuplicateLicenseNumber,
    FieldError,
    HolderNotEligible,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
    InvalidLicenseData,
    InvalidStatusChange,
    IssuerNotAllowed,
    LicenseNotFound,
    SealingUnavailable,
    UnknownLicenseType,
)
from license.holders import (
    MIN_PERSON_LEVEL,
    HolderKindRef,
    HolderRef,
    PersonDirectory,
    entity_standing,
    names_match,
)
from license.identifier import IdentifierParts, parse_identifier
from license.importcsv import ImportedLicense
from license.metadata import HolderCodeType, LicenseMetadata, LicenseRecord, build_metadata
from license.models import IdempotencyRow, LicenceRow, LicenseTypeRow, LineageRow
from license.qr import LicenseStatus, QrContent, effective_status, mask_holder_name
from license.render import extract_metadata, render_license
from license.sealing import IssuingSeal, PdfSealer, SealBox
from license.types import FieldKind, FieldValue, HolderKind, LicenseType, Validity, compute_validity, validate_data
from license.values import clean_text, today_in_china

__all__ = [
    "SALT_ELEMENT",
    "Caller",
    "IssuedPdf",
    "LicenseService",
    "LicenseView",
    "SearchFilters",
    "SearchPage",
    "run_blocking",
]

#: GB/T 36903 extension element carrying the per-licence random salt of the data hash (see qr.py).
SALT_ELEMENT: Final = "KZ_YWT_SALT"
QR_CREDENTIAL_CA: Final = "ecdsa-service"
QR_CREDENTIAL_NAME: Final = "YWT Licence QR Signing"
MAX_REASON: Final = 200
MAX_PAGE: Final = 200
_T = TypeVar("_T")
_PII_DATA = "license_data"
_PII_HOLDER = "license_holder"


def run_blocking(fn: Callable[[], Awaitable[_T]]) -> _T:
    """Run an async service call from sync code, even where an event loop is already running in
    this thread (start-up code called from the app's lifespan): a private loop in a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_call(fn))).result()


async def _call(fn: Callable[[], Awaitable[_T]]) -> _T:
    return await fn()


def new_id() -> str:
    return uuid.uuid4().hex


def holder_index(pii: PiiVault, kind: HolderKindRef | str, code: str) -> str:
    """Blind index of a holder code: the same keyed hash identity/ uses for ID numbers."""
    return pii.index("id_number" if HolderKindRef(kind) is HolderKindRef.PERSON else "uscc", code)


# ------------------------------------------------------------------------------------- callers


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as far as licences are concerned.

    ``issuer_code``: the issuer a machine client acts for; ``operator``: a platform operator
    with a licence role (acts for any issuer, reads every licence); ``holder``: a logged-in
    holder (their own licences only).
    """

    actor: str
    issuer_code: str | None = None
    operator: bool = False
    holder: HolderRef | None = None

    def may_manage(self, issuer_code: str) -> bool:
        return self.operator or (self.issuer_code is not None and self.issuer_code == issuer_code)


# --------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class LicenseView:
    """A licence version as the API shows it: ID numbers masked, status effective as of today."""

    id: str
    lineage_id: str
    identifier: str
    type_code: str
    type_name: str
    template_version: int
    issuer_code: str
    issuer_name: str
    serial: str
    version: int
    number: str
    holder_kind: str
    holder_name: str
    holder_code_masked: str
    data: Mapping[str, FieldValue]
    issue_date: date
    valid_from: date
    valid_to: date | None
    status: LicenseStatus
    status_reason: str | None
    status_changed_at: datetime
    superseded_by: str | None
    previous_id: str | None
    pdf_sha256: str
    pdf_size: int
    data_hash: str
    qr_payload: str
    qr_url: str
    seal_id: str
    seal_name: str
    signing_time: datetime
    digitised: bool
    created_at: datetime
    #: True when an Idempotency-Key found this licence issued by an earlier identical request
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        def iso(v: date | datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "id": self.id,
            "lineage_id": self.lineage_id,
            "identifier": self.identifier,
            "type_code": self.type_code,
            "type_name": self.type_name,
            "template_version": self.template_version,
            "issuer": {"code": self.issuer_code, "name": self.issuer_name},
            "serial": self.serial,
            "version": self.version,
            "number": self.number,
            "holder": {"kind": self.holder_kind, "name": self.holder_name, "code": self.holder_code_masked},
            "data": dict(self.data),
            "issue_date": iso(self.issue_date),
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "open_ended": self.valid_to is None,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "status_changed_at": iso(self.status_changed_at),
            "superseded_by": self.superseded_by,
            "previous_id": self.previous_id,
            "pdf": {"sha256": self.pdf_sha256, "size": self.pdf_size},
            "data_hash": self.data_hash,
            "qr": {"payload": self.qr_payload, "url": self.qr_url},
            "seal": {"id": self.seal_id, "name": self.seal_name},
            "signing_time": iso(self.signing_time),
            "digitised": self.digitised,
            "created_at": iso(self.created_at),
        }


MAX_IDEMPOTENCY_KEY = 200
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class _Idempotency:
    """An issuance request's Idempotency-Key, its caller and its canonical content. The stored
    digest is salted with the row id: the request holds personal data, whose plain hash could be
    searched by guessing (citizen ID numbers are few)."""

    caller: str
    key: str
    canonical: str

    @staticmethod
    def of(caller: str, key: str, type_code: str, issuer: str, data: Mapping[str, object]) -> _Idempotency:
        key = key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise InvalidLicenseData(
                [FieldError("Idempotency-Key", "invalid", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")]
            )
        request = {"type": type_code, "issuer": issuer, "data": data}
        return _Idempotency(caller, key, json.dumps(request, sort_keys=True, ensure_ascii=False, default=str))

    def digest(self, salt: str) -> str:
        return hashlib.sha256(f"{salt}\n{self.canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class IssuedPdf:
    licence_id: str
    identifier: str
    pdf: bytes
    status: LicenseStatus

    @property
    def filename(self) -> str:
        parts = parse_identifier(self.identifier)
        return f"licence-{parts.serial}-{parts.version:03d}.pdf"


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Search criteria for issuers and operators; all optional, combined with AND."""

    type_code: str | None = None
    issuer_code: str | None = None
    status: LicenseStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    holder_kind: HolderKindRef | None = None
    holder_code: str | None = None  # citizen ID or USCC: searched by its keyed hash, never stored
    number: str | None = None
    digitised: bool | None = None
    current_only: bool = False
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidLicenseData([FieldError("limit", "out_of_range", f"limit must be 1..{MAX_PAGE}")])
        if not 0 <= self.offset <= MAX_OFFSET:  # a database integer; deeper pages mean a narrower search
            raise InvalidLicenseData([FieldError("offset", "out_of_range", f"offset must be 0..{MAX_OFFSET}")])
        if self.issued_from and self.issued_to and self.issued_to < self.issued_from:
            raise InvalidLicenseData([FieldError("issued_to", "date_order", "issued_to is before issued_from")])
        if self.holder_code is not None and self.holder_kind is None:
            raise InvalidLicenseData([FieldError("holder_kind", "missing", "holder_code needs holder_kind")])


@dataclass(frozen=True)
class SearchPage:
    items: list[LicenseView]
    total: int
    limit: int
    offset: int


# ----------------------------------------------------------------------------------- issuance


@dataclass(frozen=True)
class _Prepared:
    """Everything validated before anything is stored."""

    license_type: LicenseType
    values: dict[str, FieldValue]
    validity: Validity
    issue_date: date
    issuer_code: str
    holder_kind: HolderKindRef
    holder_code: str
    holder_name: str
    number: str | None
    digitised: bool
    verify_holder: bool
    import_job_id: str | None = None
    identifier: IdentifierParts | None = None  # historical identifier of an imported licence
    lineage_id: str | None = None  # set for a correction
    previous: LicenceRow | None = None
    issuer_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Rendered:
    prepared: _Prepared
    parts: IdentifierParts
    number: str
    seal: IssuingSeal
    pdf: bytes
    metadata_hash: str
    qr_payload: str
    signing_time: datetime


class LicenseService:
    """Licence issuance and library. Holds its collaborators; every method opens its own units of work
    or takes the caller's session (read paths), as documented per method."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        journal: Journal,
        blobs: BlobStore,
        pii: PiiVault,
        ca: CaService,
        entities: LegalEntitySource | Callable[[], LegalEntitySource],
        persons: PersonDirectory | None = None,
        sealer: PdfSealer | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.journal = journal
        self.blobs = blobs
        self.pii = pii
        self.ca = ca
        self._entities = entities
        self.persons = persons
        self.sealer = sealer

    @property
    def entities(self) -> LegalEntitySource:
        """The legal-entity DB (法人库) source; built on first use when given as a factory."""
        if callable(self._entities) and not hasattr(self._entities, "lookup"):
            self._entities = self._entities()
        return self._entities  # type: ignore[return-value]

    # -------------------------------------------------------------------------- set-up
    def ensure_setup(self, session: Session, *, actor: str = "ywt-init") -> list[str]:
        """Seed the built-in types and make sure a QR-signing credential exists (idempotent)."""
        lines = [f"licence type seeded: {code}" for code in registry.ensure_builtin_types(session, self.journal)]
        if self.ca.is_initialised(session) and self.ca.find_credential(session, qrmod.QR_CREDENTIAL_PURPOSE) is None:
            issued = self.ca.issue_service_credential(
                session, QR_CREDENTIAL_CA, "token-signing", qrmod.QR_CREDENTIAL_PURPOSE, QR_CREDENTIAL_NAME, actor=actor
            )
            lines.append(f"licence QR signing certificate issued: serial {issued.serial}")
        return lines

    def _qr_credential(self, session: Session) -> Any:
        cred = self.ca.find_credential(session, qrmod.QR_CREDENTIAL_PURPOSE, Family.ECDSA)
        if cred is None:
            self.ensure_setup(session, actor="ywt-license")
            cred = self.ca.find_credential(session, qrmod.QR_CREDENTIAL_PURPOSE, Family.ECDSA)
        if cred is None:
            raise SealingUnavailable("no QR-signing credential could be created (is the PKI initialised?)")
        return cred

    # -------------------------------------------------------------------------- issuance
    def _issuer_for(self, caller: Caller, issuer_code: str | None) -> str:
        if caller.issuer_code is not None and not caller.operator:
            if issuer_code is not None and issuer_code != caller.issuer_code:
                raise IssuerNotAllowed("this client issues licences for its own department only")
            return caller.issuer_code
        if caller.operator:
            if not issuer_code:
                raise InvalidLicenseData([FieldError("issuer_code", "missing", "operators must name the issuer")])
            return issuer_code
        raise IssuerNotAllowed("only an issuing department's client or a licence operator may issue licences")

    async def issue(
        self,
        caller: Caller,
        type_code: str,
        data: Mapping[str, object],
        *,
        issuer_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> LicenseView:
        """Issue a new licence (version 001) and return it. See the module docstring for the steps.

        ``idempotency_key`` (scoped to the caller): the same key with the same request returns the
        licence the first request issued (``replayed``), never a second one, also when the two
        race; the same key with another request raises :class:`IdempotencyKeyReused`.
        """
        issuer = self._issuer_for(caller, issuer_code)
        idem: _Idempotency | None = None
        if idempotency_key is not None:
            idem = _Idempotency.of(caller.actor, idempotency_key, type_code, issuer, data)
            prior = await anyio.to_thread.run_sync(self._replay, idem)
            if prior is not None:
                return prior
        return await self._make(
            caller,
            idem,
            lambda: self._prepare(type_code, data, issuer, issue_date=None, digitised=False, verify_holder=True),
        )

    async def _make(self, caller: Caller, idem: _Idempotency | None, prepare: Callable[[], _Prepared]) -> LicenseView:
        """Prepare, render, seal and store. With an Idempotency-Key, a domain error (the licence
        number now taken, the licence now superseded, ...) caused by a racing identical request
        that has completed in the meantime yields that request's licence instead of the error."""
        try:
            prepared = await anyio.to_thread.run_sync(prepare)
            prepared = await self._check_entities(prepared)
            rendered = await anyio.to_thread.run_sync(self._render, prepared, caller.actor)
            return await anyio.to_thread.run_sync(self._store, rendered, caller.actor, idem)
        except YwtError:
            if idem is not None and (prior := await anyio.to_thread.run_sync(self._replay, idem)) is not None:
                return prior
            raise

    def _replay(self, idem: _Idempotency, session: Session | None = None) -> LicenseView | None:
        """The licence an earlier request with this caller's key issued, if any."""
        if session is None:
            with self.db.session() as s:
                return self._replay(idem, s)
        row = session.exec(
            select(IdempotencyRow).where(
                IdempotencyRow.caller == idem.caller, IdempotencyRow.idempotency_key == idem.key
            )
        ).first()
        if row is None:
            return None
        if row.request_sha256 != idem.digest(row.id):
            raise IdempotencyKeyReused(idem.key)
        return replace(self._view(session, self._row(session, row.licence_id)), replayed=True)

    async def correct(
        self, caller: Caller, licence_id: str, data: Mapping[str, object], *, idempotency_key: str | None = None
    ) -> LicenseView:
        """Issue a corrected version (+1) of a valid licence; the old version becomes ``superseded``.

        The holder's code and the licence number cannot change in a correction (they are what
        the licence is); the holder's name may (a company renamed, for instance).
        ``idempotency_key``: as for :meth:`issue` (a retried correction returns the version the
        first one made, instead of failing because the licence is superseded by then).
        """
        idem: _Idempotency | None = None
        if idempotency_key is not None:
            idem = _Idempotency.of(caller.actor, idempotency_key, f"correct:{licence_id}", "", data)
            prior = await anyio.to_thread.run_sync(self._replay, idem)
            if prior is not None:
                return prior
        return await self._make(caller, idem, lambda: self._prepare_correction(caller, licence_id, data))

    async def import_one(
        self,
        actor: str,
        record: ImportedLicense,
        *,
        issuer_code: str,
        issuer_name: str,
        import_job_id: str,
        verify_holder: bool,
    ) -> LicenseView:
        """Digitise one historical licence (bulk import): rendered and sealed like a new one, marked
        ``digitised``, with the number, dates and validity of the record (the historical data is
        authoritative); the holder is checked against identity/ only if ``verify_holder``."""
        parts = parse_identifier(record.identifier) if record.identifier else None
        validity = Validity(record.valid_from, record.valid_to)

        def prep() -> _Prepared:
            p = self._prepare(
                record.type_code,
                record.data,
                issuer_code,
                issue_date=record.issue_date,
                digitised=True,
                verify_holder=verify_holder,
                import_job_id=import_job_id,
                identifier=parts,
                number=record.number,
            )
            return replace(p, issuer_name=issuer_name, validity=validity)

        prepared = await anyio.to_thread.run_sync(prep)
        if verify_holder:
            prepared = await self._check_entities(prepared)
        rendered = await anyio.to_thread.run_sync(self._render, prepared, actor)
        return await anyio.to_thread.run_sync(self._store, rendered, actor)

    def _prepare(
        self,
        type_code: str,
        data: Mapping[str, object],
        issuer_code: str,
        *,
        issue_date: date | None,
        digitised: bool,
        verify_holder: bool,
        import_job_id: str | None = None,
        identifier: IdentifierParts | None = None,
        number: str | None = None,
    ) -> _Prepared:
        with self.db.session() as session:
            info = registry.get_type(session, type_code)
            if not info.active:
                raise UnknownLicenseType(type_code)
            t = info.license_type
            values = validate_data(t, data)
            day = issue_date or today_in_china()
            validity = compute_validity(t, values, day)
            kind = HolderKindRef(t.holder_kind.value)
            code = str(values[t.holder_code_field])
            name = str(values[t.holder_name_field])
            if kind is HolderKindRef.PERSON and verify_holder:
                self._check_person(session, code, name)
            if number is None and t.number_field:
                number = str(values[t.number_field])
            if identifier is not None:
                if identifier.type_code != t.type_code or identifier.issuer_code != issuer_code:
                    raise InvalidLicenseData(
                        [FieldError("identifier", "mismatch", "the identifier names another type or issuer")]
                    )
                number = number or identifier.serial
            if number is not None:
                self._check_number_free(session, t.type_code, issuer_code, number)
            if identifier is not None:
                self._check_serial_free(session, t.type_code, issuer_code, identifier.serial)
        return _Prepared(
            license_type=t,
            values=values,
            validity=validity,
            issue_date=day,
            issuer_code=issuer_code,
            holder_kind=kind,
            holder_code=code,
            holder_name=name,
            number=number,
            digitised=digitised,
            verify_holder=verify_holder,
            import_job_id=import_job_id,
            identifier=identifier,
        )

    def _prepare_correction(self, caller: Caller, licence_id: str, data: Mapping[str, object]) -> _Prepared:
        with self.db.session() as session:
            row = self._row(session, licence_id)
            if not caller.may_manage(row.issuer_code):
                raise LicenseNotFound(f"no licence {licence_id[:40]}")
            if row.status != LicenseStatus.VALID.value:
                raise InvalidStatusChange("correct", row.status)
            info = registry.get_type(session, row.type_code)
            t = info.license_type
            values = validate_data(t, data)
            validity = compute_validity(t, values, row.issue_date)
            code = str(values[t.holder_code_field])
            errors: list[FieldError] = []
            if code != self.pii.decrypt(_PII_HOLDER, row.holder_code_enc):
                errors.append(
                    FieldError(t.holder_code_field, "mismatch", "a correction cannot change the holder's code")
                )
            if t.number_field is not None and str(values[t.number_field]) != row.number:
                errors.append(FieldError(t.number_field, "mismatch", "a correction cannot change the licence number"))
            if errors:
                raise InvalidLicenseData(errors)
            kind = HolderKindRef(t.holder_kind.value)
            name = str(values[t.holder_name_field])
            # A digitised licence's holder was never checked against identity/ (historical data);
            # correcting a typo in it must not require the holder to have registered since.
            verify_holder = not row.digitised
            if kind is HolderKindRef.PERSON and verify_holder:
                self._check_person(session, code, name)
        return _Prepared(
            license_type=t,
            values=values,
            validity=validity,
            issue_date=row.issue_date,
            issuer_code=row.issuer_code,
            holder_kind=kind,
            holder_code=code,
            holder_name=name,
            number=row.number,
            digitised=row.digitised,
            verify_holder=verify_holder,
            identifier=IdentifierParts(row.type_code, row.issuer_code, row.serial, row.version).next_version(),
            lineage_id=row.lineage_id,
            previous=row,
            issuer_name=row.issuer_name,
        )

    def _check_person(self, session: Session, id_number: str, name: str) -> None:
        masked = mask_id_number(id_number)
        if self.persons is None:
            raise HolderNotEligible(
                "person_not_registered", "no identity registry is configured to check the holder", masked=masked
            )
        person = self.persons.person(session, id_number)
        if person is None:
            raise HolderNotEligible(
                "person_not_registered",
                "the holder is not registered in the identity registry (real-name registration is required)",
                masked=masked,
            )
        if person.level < MIN_PERSON_LEVEL:
            raise HolderNotEligible(
                "level_too_low",
                f"the holder is verified at L{person.level}; licences need L{MIN_PERSON_LEVEL} or higher",
                masked=masked,
                required_level=MIN_PERSON_LEVEL,
                level=person.level,
            )
        if not names_match(person.name, name):
            raise HolderNotEligible(
                "name_mismatch", "the holder's name differs from the registered name for this ID number", masked=masked
            )

    async def _check_entities(self, p: _Prepared) -> _Prepared:
        """Issuer (and an entity holder) must be known and active in the legal-entity DB."""
        issuer = await entity_standing(self.entities, p.issuer_code)
        if issuer is None or not issuer.active:
            raise IssuerNotAllowed(
                "the issuer is not an active legal entity in the legal-entity DB", issuer_code=p.issuer_code
            )
        if p.holder_kind is HolderKindRef.ENTITY and p.verify_holder:
            holder = await entity_standing(self.entities, p.holder_code)
            if holder is None:
                raise HolderNotEligible(
                    "entity_not_found", "the legal-entity DB does not know this USCC", masked=p.holder_code
                )
            if not holder.active:
                raise HolderNotEligible(
                    "entity_inactive",
                    f"the entity is {holder.status.value} in the legal-entity DB, not active",
                    masked=p.holder_code,
                )
        return replace(p, issuer_name=issuer.name)

    def _check_number_free(self, session: Session, type_code: str, issuer_code: str, number: str) -> None:
        taken = session.exec(
            select(LineageRow.id).where(
                LineageRow.type_code == type_code, LineageRow.issuer_code == issuer_code, LineageRow.number == number
            )
        ).first()
        if taken is not None:
            raise DuplicateLicenseNumber(type_code, number)

    def _check_serial_free(self, session: Session, type_code: str, issuer_code: str, serial: str) -> None:
        taken = session.exec(
            select(LineageRow.id).where(
                LineageRow.type_code == type_code, LineageRow.issuer_code == issuer_code, LineageRow.serial == serial
            )
        ).first()
        if taken is not None:
            raise InvalidLicenseData(
                [FieldError("identifier", "duplicate", "a licence with this identifier serial exists already")]
            )

    def _allocate_serial(self, session: Session, p: _Prepared) -> str:
        """Next free serial ``YYYY`` + 6 digits for (type, issuer, year): counter row lock, short transaction."""
        year = p.issue_date.year
        while True:
            n = next_counter(session, f"license:{p.license_type.type_code}:{p.issuer_code}:{year}")
            serial = f"{year}{n:06d}"
            used = session.exec(
                select(LineageRow.id).where(
                    LineageRow.type_code == p.license_type.type_code,
                    LineageRow.issuer_code == p.issuer_code,
                    LineageRow.serial == serial,
                )
            ).first()
            if used is None:  # an imported identifier may have taken it
                return serial

    def _render(self, p: _Prepared, actor: str) -> _Rendered:
        if self.sealer is None:
            raise SealingUnavailable("no sealer is configured: licences cannot be sealed")
        t = p.license_type
        with self.db.session() as session:
            seal = self.sealer.find_seal(session, owner_uscc=p.issuer_code, seal_ref=t.seal_ref)
            cred = self._qr_credential(session)
            if p.identifier is not None:
                parts = p.identifier
            else:
                parts = IdentifierParts(t.type_code, p.issuer_code, self._allocate_serial(session, p))
        number = p.number or parts.serial
        signing_time = clock.now().replace(microsecond=0)
        record = LicenseRecord(
            identifier=str(parts),
            number=number,
            issuer_name=p.issuer_name,
            issuer_code=p.issuer_code,
            issue_date=p.issue_date,
            holder_name=p.holder_name,
            holder_code=p.holder_code,
            holder_code_type=HolderCodeType.for_holder(HolderKind(p.holder_kind.value)),
            valid_from=p.validity.valid_from,
            valid_to=p.validity.valid_to,
            seal_name=seal.name,
            signer=seal.owner_name,
            signing_time=signing_time,
        )
        base = build_metadata(t, p.values, record)
        salt = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        metadata = LicenseMetadata((*base.elements, (SALT_ELEMENT, salt)))
        metadata_bytes = metadata.to_json_bytes()
        digest = hashlib.sha256(metadata_bytes).digest()
        content = QrContent(
            identifier=str(parts),
            holder_masked=mask_holder_name(p.holder_name, entity=p.holder_kind is HolderKindRef.ENTITY),
            valid_from=p.validity.valid_from,
            valid_to=p.validity.valid_to,
            data_hash=digest,
            signed_at=signing_time,
        )
        try:
            payload = qrmod.make_payload(content, cred.signer, cred.cert_der)
        except ValueError as exc:
            raise InvalidLicenseData([FieldError("identifier", "too_long", str(exc))]) from None
        url = qrmod.qr_url(self.settings.base_url, payload)
        pdf = render_license(t, p.values, metadata, str(parts), url)
        return _Rendered(p, parts, number, seal, pdf, digest.hex(), payload, signing_time)

    def _store(self, r: _Rendered, actor: str, idem: _Idempotency | None = None) -> LicenseView:
        assert self.sealer is not None
        p, t = r.prepared, r.prepared.license_type
        box = t.layout.seal
        now = clock.now()
        licence_id = new_id()
        index = holder_index(self.pii, p.holder_kind, p.holder_code)
        with self.db.session() as session:
            if idem is not None:
                # First write of the transaction: a concurrent request with the same key waits here
                # on the unique index until this one commits (or rolls back), then replays it.
                row_id = new_id()
                claim = IdempotencyRow(
                    id=row_id,
                    caller=idem.caller,
                    idempotency_key=idem.key,
                    request_sha256=idem.digest(row_id),
                    licence_id=licence_id,
                    created_at=now,
                )
                try:
                    with session.begin_nested():
                        session.add(claim)
                        session.flush()
                except IntegrityError:
                    prior = self._replay(idem, session)
                    if prior is None:  # the other request rolled back after all: try again later
                        raise IdempotentRequestInProgress("another request with this key is in progress") from None
                    return prior
            if p.lineage_id is None:
                lineage = LineageRow(
                    id=new_id(),
                    type_code=t.type_code,
                    issuer_code=p.issuer_code,
                    serial=r.parts.serial,
                    number=r.number,
                    holder_index=index,
                    current_id=licence_id,
                    current_version=r.parts.version,
                    import_job_id=p.import_job_id,
                    created_at=now,
                )
                session.add(lineage)
                try:
                    session.flush()
                except IntegrityError:
                    raise DuplicateLicenseNumber(t.type_code, r.number) from None
                lineage_id = lineage.id
            else:
                assert p.previous is not None
                lineage_id = p.lineage_id
                moved = session.connection().execute(
                    sa.update(LineageRow)
                    .where(
                        col(LineageRow.id) == lineage_id,
                        col(LineageRow.current_id) == p.previous.id,
                    )
                    .values(current_id=licence_id, current_version=r.parts.version)
                )
                superseded = session.connection().execute(
                    sa.update(LicenceRow)
                    .where(col(LicenceRow.id) == p.previous.id, col(LicenceRow.status) == LicenseStatus.VALID.value)
                    .values(
                        status=LicenseStatus.SUPERSEDED.value,
                        superseded_by=licence_id,
                        status_changed_at=now,
                        status_reason="corrected",
                    )
                )
                if moved.rowcount != 1 or superseded.rowcount != 1:
                    raise InvalidStatusChange("correct", "no longer the current valid version")
            sealed = self.sealer.seal(
                session,
                seal=r.seal,
                pdf=r.pdf,
                box=SealBox(0, box.x, box.y, box.width, box.height),
                reason=f"签发电子证照 {t.name}",
                location=p.issuer_name,
                actor=actor,
            )
            digest = self.blobs.put(sealed)
            row = LicenceRow(
                id=licence_id,
                lineage_id=lineage_id,
                identifier=str(r.parts),
                type_code=t.type_code,
                template_version=t.template_version,
                issuer_code=p.issuer_code,
                issuer_name=p.issuer_name,
                serial=r.parts.serial,
                version=r.parts.version,
                number=r.number,
                holder_kind=p.holder_kind.value,
                holder_name=p.holder_name,
                holder_code_enc=self.pii.encrypt(_PII_HOLDER, p.holder_code),
                holder_code_masked=_mask_code(p.holder_kind, p.holder_code),
                holder_index=index,
                data_enc=self.pii.encrypt(_PII_DATA, json.dumps(p.values, ensure_ascii=False)),
                issue_date=p.issue_date,
                valid_from=p.validity.valid_from,
                valid_to=p.validity.valid_to,
                status=LicenseStatus.VALID.value,
                status_changed_at=now,
                previous_id=p.previous.id if p.previous is not None else None,
                pdf_sha256=digest,
                pdf_size=len(sealed),
                data_hash=r.metadata_hash,
                qr_payload=r.qr_payload,
                seal_id=r.seal.seal_id,
                seal_name=r.seal.name,
                signing_time=r.signing_time,
                digitised=p.digitised,
                import_job_id=p.import_job_id,
                created_at=now,
                created_by=actor,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # the same identifier twice: a concurrent correction won
                raise InvalidStatusChange("correct", "being corrected concurrently") from None
            action = (
                "license.correct" if p.previous is not None else ("license.import" if p.digitised else "license.issue")
            )
            self.journal.append(
                session,
                actor=actor,
                action=action,
                target=row.identifier,
                data={
                    "licence_id": row.id,
                    "type": t.type_code,
                    "issuer": p.issuer_code,
                    "number": r.number,
                    "holder": mask_holder_name(p.holder_name, entity=p.holder_kind is HolderKindRef.ENTITY),
                    "holder_code": row.holder_code_masked,
                    "pdf_sha256": digest,
                    "data_hash": r.metadata_hash,
                    "seal_id": r.seal.seal_id,
                    "previous": row.previous_id,
                },
            )
            view = self._view(session, row)
        metrics.LICENCES_ISSUED.labels(t.type_code).inc()  # counted once committed
        return view

    # -------------------------------------------------------------------------- reading
    def _row(self, session: Session, licence_id: str) -> LicenceRow:
        row = session.get(LicenceRow, licence_id) if isinstance(licence_id, str) and len(licence_id) <= 32 else None
        if row is None:
            raise LicenseNotFound(f"no licence {str(licence_id)[:40]}")
        return row

    def _may_read(self, caller: Caller, row: LicenceRow) -> bool:
        if caller.may_manage(row.issuer_code):
            return True
        h = caller.holder
        return h is not None and holder_index(self.pii, h.kind, h.code) == row.holder_index

    def _visible(self, session: Session, caller: Caller, licence_id: str) -> LicenceRow:
        row = self._row(session, licence_id)
        if not self._may_read(caller, row):
            raise LicenseNotFound(f"no licence {licence_id[:40]}")  # no oracle for other holders' ids
        return row

    def _view(self, session: Session, row: LicenceRow, *, today: date | None = None) -> LicenseView:
        type_row = session.get(LicenseTypeRow, row.type_code)
        t = registry.get_type(session, row.type_code, row.template_version).license_type
        values: dict[str, FieldValue] = json.loads(self.pii.decrypt(_PII_DATA, row.data_enc))
        shown: dict[str, FieldValue] = {}
        for k, v in values.items():
            spec = t.field(k) if t.has_field(k) else None
            shown[k] = mask_id_number(str(v)) if spec is not None and spec.kind is FieldKind.ID_NUMBER else v
        return LicenseView(
            id=row.id,
            lineage_id=row.lineage_id,
            identifier=row.identifier,
            type_code=row.type_code,
            type_name=type_row.name if type_row else t.name,
            template_version=row.template_version,
            issuer_code=row.issuer_code,
            issuer_name=row.issuer_name,
            serial=row.serial,
            version=row.version,
            number=row.number,
            holder_kind=row.holder_kind,
            holder_name=row.holder_name,
            holder_code_masked=row.holder_code_masked,
            data=shown,
            issue_date=row.issue_date,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            status=effective_status(row, today or today_in_china()),
            status_reason=row.status_reason,
            status_changed_at=row.status_changed_at,
            superseded_by=row.superseded_by,
            previous_id=row.previous_id,
            pdf_sha256=row.pdf_sha256,
            pdf_size=row.pdf_size,
            data_hash=row.data_hash,
            qr_payload=row.qr_payload,
            qr_url=qrmod.qr_url(self.settings.base_url, row.qr_payload),
            seal_id=row.seal_id,
            seal_name=row.seal_name,
            signing_time=row.signing_time,
            digitised=row.digitised,
            created_at=row.created_at,
        )

    def get(self, session: Session, caller: Caller, licence_id: str) -> LicenseView:
        return self._view(session, self._visible(session, caller, licence_id))

    def pdf(self, session: Session, caller: Caller, licence_id: str) -> IssuedPdf:
        """The sealed PDF exactly as stored (content-addressed: its hash is checked on read)."""
        row = self._visible(session, caller, licence_id)
        status = effective_status(row, today_in_china())
        return IssuedPdf(row.id, row.identifier, self.blobs.get(row.pdf_sha256), status)

    def metadata(self, session: Session, caller: Caller, licence_id: str) -> LicenseMetadata:
        """The licence's GB/T 36903 metadata for export (JSON), personal data masked.

        Read back from the sealed PDF as stored (the embedded ``metadata.json``) and checked
        against the data hash the QR code signs, so the export is the metadata the licence
        carries, not a re-derivation that could drift from it. The holder's citizen ID
        (``CZZTDM``) and any element taken from an ID-number field are masked (DESIGN.md:
        personal data never in clear in responses); the exact signed bytes stay in the PDF for
        whoever holds it.
        """
        row = self._visible(session, caller, licence_id)
        raw = extract_metadata(self.blobs.get(row.pdf_sha256))
        if hashlib.sha256(raw).hexdigest() != row.data_hash:
            raise RuntimeError(f"licence {row.identifier}: embedded metadata does not match its recorded hash")
        meta = LicenseMetadata.from_json(raw)
        t = registry.get_type(session, row.type_code, row.template_version).license_type
        masked = {"CZZTDM"} if HolderKindRef(row.holder_kind) is HolderKindRef.PERSON else set()
        masked |= {el for el, key in t.metadata if t.has_field(key) and t.field(key).kind is FieldKind.ID_NUMBER}
        return LicenseMetadata(tuple((k, mask_id_number(v) if k in masked else v) for k, v in meta.elements))

    def search(self, session: Session, caller: Caller, filters: SearchFilters) -> SearchPage:
        """Issuers see their own licences; operators every issuer's (``issuer_code`` filters)."""
        if caller.operator:
            issuer = filters.issuer_code
        elif caller.issuer_code is not None:
            if filters.issuer_code is not None and filters.issuer_code != caller.issuer_code:
                raise IssuerNotAllowed("a department client searches its own licences only")
            issuer = caller.issuer_code
        else:
            raise IssuerNotAllowed("searching licences needs an issuing department's client or an operator")
        q = select(LicenceRow)
        conds: list[Any] = []
        if issuer is not None:
            conds.append(col(LicenceRow.issuer_code) == issuer)
        if filters.type_code is not None:
            conds.append(col(LicenceRow.type_code) == filters.type_code)
        if filters.number is not None:
            conds.append(col(LicenceRow.number) == filters.number)
        if filters.issued_from is not None:
            conds.append(col(LicenceRow.issue_date) >= filters.issued_from)
        if filters.issued_to is not None:
            conds.append(col(LicenceRow.issue_date) <= filters.issued_to)
        if filters.digitised is not None:
            conds.append(col(LicenceRow.digitised) == filters.digitised)
        if filters.current_only:
            conds.append(col(LicenceRow.superseded_by).is_(None))
        if filters.holder_code is not None and filters.holder_kind is not None:
            code = _normalise_code(filters.holder_code)
            conds.append(col(LicenceRow.holder_index) == holder_index(self.pii, filters.holder_kind, code))
        if filters.status is not None:
            conds.append(_status_condition(filters.status, today_in_china()))
        if conds:
            q = q.where(*conds)
        total = session.exec(select(sa.func.count()).select_from(q.subquery())).one()
        rows = session.exec(
            q.order_by(col(LicenceRow.created_at).desc(), col(LicenceRow.id))
            .offset(filters.offset)
            .limit(filters.limit)
        ).all()
        return SearchPage([self._view(session, r) for r in rows], int(total), filters.limit, filters.offset)

    def wallet(self, session: Session, holder: HolderRef, *, include_history: bool = False) -> list[LicenseView]:
        """A holder's licences, newest first; superseded versions only with ``include_history``."""
        q = select(LicenceRow).where(col(LicenceRow.holder_index) == holder_index(self.pii, holder.kind, holder.code))
        if not include_history:
            q = q.where(col(LicenceRow.superseded_by).is_(None))
        rows = session.exec(q.order_by(col(LicenceRow.issue_date).desc(), col(LicenceRow.created_at).desc())).all()
        return [self._view(session, r) for r in rows]

    def holder_for_user(self, session: Session, account_id: str, entity_uscc: str | None) -> HolderRef | None:
        """The documented principal -> holder lookup (see :mod:`license.holders`)."""
        if entity_uscc:
            return HolderRef(HolderKindRef.ENTITY, entity_uscc)
        if self.persons is None:
            return None
        return self.persons.holder_for_account(session, account_id)

    def status(self, session: Session, identifier: str) -> qrmod.LiveStatus:
        return qrmod.lookup_status(session, identifier)

    # -------------------------------------------------------------------------- status changes
    _TRANSITIONS: Final = {
        "revoke": ((LicenseStatus.VALID, LicenseStatus.SUSPENDED), LicenseStatus.REVOKED),
        "suspend": ((LicenseStatus.VALID,), LicenseStatus.SUSPENDED),
        "resume": ((LicenseStatus.SUSPENDED,), LicenseStatus.VALID),
    }

    def change_status(
        self, session: Session, caller: Caller, licence_id: str, action: str, reason: str | None
    ) -> LicenseView:
        """Revoke, suspend or resume a licence version; effective for every reader at commit.

        Revocation is final. A reason is required for revoke and suspend (it is shown to
        verifiers as the status reason). The update is conditional on the current status, so
        two concurrent changes cannot both apply.
        """
        if action not in self._TRANSITIONS:
            raise InvalidLicenseData(
                [FieldError("action", "not_an_option", "action must be revoke, suspend or resume")]
            )
        allowed, target = self._TRANSITIONS[action]
        row = self._row(session, licence_id)
        if not caller.may_manage(row.issuer_code):
            raise LicenseNotFound(f"no licence {licence_id[:40]}")
        text: str | None = None
        if reason is not None and reason.strip():
            try:
                text = clean_text(reason)
            except ValueError:
                raise InvalidLicenseData(
                    [FieldError("reason", "bad_format", "the reason has invisible characters")]
                ) from None
            if len(text) > MAX_REASON:
                raise InvalidLicenseData([FieldError("reason", "too_long", f"at most {MAX_REASON} characters")])
        if action != "resume" and text is None:
            raise InvalidLicenseData([FieldError("reason", "missing", f"a reason is required to {action}")])
        if LicenseStatus(row.status) not in allowed:
            raise InvalidStatusChange(action, row.status)
        now = clock.now()
        result = session.connection().execute(
            sa.update(LicenceRow)
            .where(col(LicenceRow.id) == row.id, col(LicenceRow.status).in_([s.value for s in allowed]))
            .values(status=target.value, status_reason=text, status_changed_at=now)
        )
        if result.rowcount != 1:
            session.refresh(row)
            raise InvalidStatusChange(action, row.status)
        session.refresh(row)
        self.journal.append(
            session,
            actor=caller.actor,
            action=f"license.{action}",
            target=row.identifier,
            data={"licence_id": row.id, "from": [s.value for s in allowed], "to": target.value, "reason": text},
        )
        return self._view(session, row)

    # -------------------------------------------------------------------------- lineage helpers
    def current_of_lineage(self, session: Session, lineage_id: str) -> LicenceRow:
        lineage = session.get(LineageRow, lineage_id)
        if lineage is None:
            raise LicenseNotFound("no such licence")
        return self._row(session, lineage.current_id)

    def view_row(self, session: Session, row: LicenceRow) -> LicenseView:
        return self._view(session, row)

    def lineage_exists(self, session: Session, type_code: str, issuer_code: str, number: str) -> LineageRow | None:
        return session.exec(
            select(LineageRow).where(
                LineageRow.type_code == type_code, LineageRow.issuer_code == issuer_code, LineageRow.number == number
            )
        ).first()


def _mask_code(kind: HolderKindRef, code: str) -> str:
    return mask_id_number(code) if kind is HolderKindRef.PERSON else code


def _normalise_code(code: str) -> str:
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", code).split()).upper()


def _status_condition(status: LicenseStatus, today: date) -> Any:
    valid_to = col(LicenceRow.valid_to)
    if status is LicenseStatus.EXPIRED:
        return sa.and_(col(LicenceRow.status) == "valid", valid_to.is_not(None), valid_to < today)
    if status is LicenseStatus.VALID:
        return sa.and_(col(LicenceRow.status) == "valid", sa.or_(valid_to.is_(None), valid_to >= today))
    return col(LicenceRow.status) == status.value


def licence_rows_of(session: Session, ids: Sequence[str]) -> list[LicenceRow]:
    return list(session.exec(select(LicenceRow).where(col(LicenceRow.id).in_(list(ids)))).all())
