"""The production :class:`license.sealing.PdfSealer`: seal/'s ``SealService``.

A licence type names its seal by role (``seal_ref``, ``licence-issuing`` for the built-ins);
the issuer's *active* seal of that kind in seal/'s registry signs it. The signature is a
certification signature (DocMDP, ``certify=True``) at PAdES B-T (RFC 3161 time-stamp from our
TSA), placed in the layout's seal box, journaled by seal/ as ``seal.use`` with the document
hashes. Issuance authorises its own caller (issuer client or operator), so no client grant is
checked here (``client_id=None``): the licence service is the in-process caller seal/ documents.
"""

from __future__ import annotations

from typing import Final

from sqlmodel import Session

from license.errors import NoIssuingSeal
from license.sealing import IssuingSeal, SealBox
from seal.domain import SealStatus, SealType
from seal.pdf import PadesLevel, Placement
from seal.service import SealService

__all__ = ["LICENCE_DOCUMENT_TYPE", "SEAL_REFS", "SealServiceSealer"]

#: ``seal_ref`` of a licence type -> seal type in seal/'s registry.
SEAL_REFS: Final = {
    "licence-issuing": SealType.LICENCE,
    **{t.value: t for t in SealType},
}
#: Document type recorded with every seal use for a licence.
LICENCE_DOCUMENT_TYPE: Final = "e-licence"


class SealServiceSealer:
    def __init__(self, seals: SealService, level: PadesLevel = PadesLevel.B_T) -> None:
        if level is PadesLevel.B_B:
            raise ValueError("licences are sealed at B-T or better (they need a trusted time)")
        self.seals = seals
        self.level = level

    def find_seal(self, session: Session, *, owner_uscc: str, seal_ref: str) -> IssuingSeal:
        kind = SEAL_REFS.get(seal_ref)
        if kind is None:
            raise NoIssuingSeal(owner_uscc, seal_ref, f"licence types name no seal kind {seal_ref!r}")
        found = [
            s
            for s in self.seals.list_seals(session, owner_uscc=owner_uscc, status=SealStatus.ACTIVE)
            if s.seal_type is kind
        ]
        if not found:
            raise NoIssuingSeal(owner_uscc, seal_ref)
        best = max(found, key=lambda s: (s.valid_to, s.id))  # the one valid longest
        return IssuingSeal(best.id, best.name, best.owner_name)

    def seal(
        self,
        session: Session,
        *,
        seal: IssuingSeal,
        pdf: bytes,
        box: SealBox,
        reason: str,
        location: str,
        actor: str,
    ) -> bytes:
        signed = self.seals.sign_pdf(
            session,
            seal_id=seal.seal_id,
            pdf=pdf,
            placement=Placement(page=box.page + 1, x=box.x, y=box.y, width=box.width, height=box.height),
            level=self.level,
            reason=reason,
            location=location,
            certify=True,
            actor=actor,
            client_id=None,
            document_type=LICENCE_DOCUMENT_TYPE,
        )
        return signed.pdf
