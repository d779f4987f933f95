"""Sharing a licence with consent (DESIGN.md "Library"): a holder lets a named third party see one
licence until a deadline, and can withdraw that at any time.

A share is a bearer token (256 random bits, base64url) handed to the third party as a link
``{YWT_BASE_URL}/license/v1/shared/{token}`` or as the token itself; only its SHA-256 is stored,
so a database reader cannot use shares. A share follows the licence, not one version: after a
correction the third party sees the current version, with its live status.

Every access is journaled (``license.share.access``) with the outcome — granted, expired,
revoked or unknown token — and is committed even when the access is refused: the refusal is
written in its own transaction before the error is raised.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlmodel import Session, col, select

from core import clock
from license.errors import (
    FieldError,
    InvalidLicenseData,
    InvalidStatusChange,
    LicenseNotFound,
    ShareExpired,
    ShareNotFound,
    ShareRevoked,
)
from license.holders import HolderRef
from license.models import LicenceRow, LineageRow, ShareRow
from license.qr import LicenseStatus, effective_status
from license.service import LicenseService, LicenseView, holder_index, new_id
from license.values import ValueProblem, clean_text, today_in_china

__all__ = ["MAX_SHARE_DURATION", "MIN_SHARE_DURATION", "ShareAccess", "ShareState", "ShareView", "Shares"]

MIN_SHARE_DURATION: Final = timedelta(minutes=5)
MAX_SHARE_DURATION: Final = timedelta(days=30)
DEFAULT_SHARE_DURATION: Final = timedelta(days=7)
MAX_ACTIVE_SHARES_PER_LICENCE: Final = 20
SHARE_PATH: Final = "/license/v1/shared/"


class ShareState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class ShareView:
    """A share as its holder sees it (never the token: it is shown once, at creation)."""

    id: str
    licence_id: str
    identifier: str
    type_name: str
    recipient: str
    purpose: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: ShareState
    access_count: int
    last_access_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "id": self.id,
            "licence_id": self.licence_id,
            "identifier": self.identifier,
            "type_name": self.type_name,
            "recipient": self.recipient,
            "purpose": self.purpose,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "state": self.state.value,
            "access_count": self.access_count,
            "last_access_at": iso(self.last_access_at),
        }


@dataclass(frozen=True)
class ShareAccess:
    """What a third party gets through a share: the current licence version (and its PDF if asked)."""

    share_id: str
    recipient: str
    expires_at: datetime
    licence: LicenseView
    pdf: bytes | None = None


class Shares:
    def __init__(self, licenses: LicenseService) -> None:
        self.licenses = licenses

    # ----------------------------------------------------------------------------- helpers
    def _state(self, row: ShareRow, now: datetime) -> ShareState:
        if row.revoked_at is not None:
            return ShareState.REVOKED
        if now >= row.expires_at:
            return ShareState.EXPIRED
        return ShareState.ACTIVE

    def _view(self, session: Session, row: ShareRow, now: datetime | None = None) -> ShareView:
        lic = self.licenses.current_of_lineage(session, row.lineage_id)
        view = self.licenses.view_row(session, lic)
        return ShareView(
            id=row.id,
            licence_id=lic.id,
            identifier=lic.identifier,
            type_name=view.type_name,
            recipient=row.recipient,
            purpose=row.purpose,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            state=self._state(row, now or clock.now()),
            access_count=row.access_count,
            last_access_at=row.last_access_at,
        )

    def link(self, token: str) -> str:
        return f"{self.licenses.settings.base_url}{SHARE_PATH}{token}"

    @staticmethod
    def _text(name: str, value: str | None, max_len: int, *, required: bool) -> str | None:
        if value is None or not str(value).strip():
            if required:
                raise InvalidLicenseData([FieldError(name, "missing", f"{name} is required")])
            return None
        if not isinstance(value, str):
            raise InvalidLicenseData([FieldError(name, "bad_type", f"{name} must be text")])
        try:
            text = clean_text(value)
        except ValueProblem as exc:
            raise InvalidLicenseData([FieldError(name, exc.code, f"{name} {exc.reason}")]) from None
        if len(text) > max_len:
            raise InvalidLicenseData([FieldError(name, "too_long", f"{name} has at most {max_len} characters")])
        return text

    # ----------------------------------------------------------------------------- holder side
    def create(
        self,
        session: Session,
        holder: HolderRef,
        *,
        actor: str,
        licence_id: str,
        recipient: str,
        expires_in: timedelta | None = None,
        purpose: str | None = None,
    ) -> tuple[ShareView, str]:
        """Share the holder's licence with ``recipient`` for ``expires_in`` (5 minutes .. 30 days).

        Returns the share and its token; the token is not stored and cannot be shown again.
        Only a licence that is currently valid can be shared.
        """
        name = self._text("recipient", recipient, 100, required=True)
        assert name is not None
        why = self._text("purpose", purpose, 200, required=False)
        duration = DEFAULT_SHARE_DURATION if expires_in is None else expires_in
        if not MIN_SHARE_DURATION <= duration <= MAX_SHARE_DURATION:
            raise InvalidLicenseData(
                [FieldError("expires_in", "out_of_range", "a share lasts from 5 minutes to 30 days")]
            )
        row = session.get(LicenceRow, licence_id) if isinstance(licence_id, str) and len(licence_id) <= 32 else None
        index = holder_index(self.licenses.pii, holder.kind, holder.code)
        if row is None or row.holder_index != index:
            raise LicenseNotFound(f"no licence {str(licence_id)[:40]} in your wallet")
        lic = self.licenses.current_of_lineage(session, row.lineage_id)
        status = effective_status(lic, today_in_china())
        if status is not LicenseStatus.VALID:
            raise InvalidStatusChange("share", status.value)
        now = clock.now()
        active = session.exec(
            select(ShareRow).where(
                ShareRow.lineage_id == row.lineage_id, col(ShareRow.revoked_at).is_(None), ShareRow.expires_at > now
            )
        ).all()
        if len(active) >= MAX_ACTIVE_SHARES_PER_LICENCE:
            raise InvalidLicenseData(
                [FieldError("licence_id", "out_of_range", f"at most {MAX_ACTIVE_SHARES_PER_LICENCE} active shares")]
            )
        token = secrets.token_urlsafe(32)
        share = ShareRow(
            id=new_id(),
            lineage_id=row.lineage_id,
            holder_index=index,
            token_hash=_token_hash(token),
            recipient=name,
            purpose=why,
            created_at=now,
            created_by=actor,
            expires_at=now + duration,
        )
        session.add(share)
        session.flush()
        self.licenses.journal.append(
            session,
            actor=actor,
            action="license.share.create",
            target=share.id,
            data={
                "licence": lic.identifier,
                "recipient": name,
                "expires_at": share.expires_at.isoformat(),
            },
        )
        return self._view(session, share, now), token

    def list(self, session: Session, holder: HolderRef) -> list[ShareView]:
        index = holder_index(self.licenses.pii, holder.kind, holder.code)
        rows = session.exec(
            select(ShareRow).where(ShareRow.holder_index == index).order_by(col(ShareRow.created_at).desc())
        ).all()
        now = clock.now()
        return [self._view(session, r, now) for r in rows]

    def revoke(self, session: Session, holder: HolderRef, share_id: str, *, actor: str) -> ShareView:
        """Withdraw consent: the token stops working at once (idempotent for an already revoked share)."""
        row = session.get(ShareRow, share_id) if isinstance(share_id, str) and len(share_id) <= 32 else None
        if row is None or row.holder_index != holder_index(self.licenses.pii, holder.kind, holder.code):
            raise ShareNotFound(f"no share {str(share_id)[:40]}")
        if row.revoked_at is None:
            row.revoked_at = clock.now()
            session.add(row)
            session.flush()
            self.licenses.journal.append(
                session, actor=actor, action="license.share.revoke", target=row.id, data={"recipient": row.recipient}
            )
        return self._view(session, row)

    # ----------------------------------------------------------------------------- third party
    def access(self, token: str, *, want_pdf: bool, requester: str) -> ShareAccess:
        """The licence behind a share token, journaled whatever the outcome.

        Raises :class:`ShareNotFound` (unknown token), :class:`ShareExpired` or
        :class:`ShareRevoked`; those refusals are journaled and committed first.
        """
        db = self.licenses.db
        journal = self.licenses.journal
        digest = _token_hash(token) if isinstance(token, str) and 16 <= len(token) <= 128 else None
        refusal: Exception | None = None
        result: ShareAccess | None = None
        with db.session() as session:
            row = None
            if digest is not None:
                row = session.exec(select(ShareRow).where(ShareRow.token_hash == digest)).first()
            now = clock.now()
            what = "pdf" if want_pdf else "details"
            if row is None:
                journal.append(
                    session,
                    actor=f"share:{requester}"[:200],
                    action="license.share.access",
                    target="unknown",
                    data={"result": "unknown_token", "what": what, "token_sha256_prefix": (digest or "")[:12]},
                )
                refusal = ShareNotFound("this share link is not valid")
            else:
                state = self._state(row, now)
                lineage = session.get(LineageRow, row.lineage_id)
                assert lineage is not None
                if state is not ShareState.ACTIVE:
                    journal.append(
                        session,
                        actor=f"share:{requester}"[:200],
                        action="license.share.access",
                        target=row.id,
                        data={"result": state.value, "what": what, "recipient": row.recipient},
                    )
                    refusal = (
                        ShareExpired(f"this share expired at {row.expires_at.isoformat()}")
                        if state is ShareState.EXPIRED
                        else ShareRevoked("the holder withdrew this share")
                    )
                else:
                    lic = self.licenses.current_of_lineage(session, row.lineage_id)
                    view = self.licenses.view_row(session, lic)
                    pdf = self.licenses.blobs.get(lic.pdf_sha256) if want_pdf else None
                    row.access_count += 1
                    row.last_access_at = now
                    session.add(row)
                    journal.append(
                        session,
                        actor=f"share:{requester}"[:200],
                        action="license.share.access",
                        target=row.id,
                        data={
                            "result": "granted",
                            "what": what,
                            "recipient": row.recipient,
                            "licence": lic.identifier,
                            "status": view.status.value,
                        },
                    )
                    result = ShareAccess(row.id, row.recipient, row.expires_at, view, pdf)
        if refusal is not None:
            raise refusal
        assert result is not None
        return result
