"""The sealing step of issuance, as the licence domain needs it from seal/.

A licence PDF is sealed by its issuer's seal of the kind its type names (``seal_ref``, e.g.
``licence-issuing``) with a *certification* signature (ISO 32000-1 §12.8.2.2 DocMDP: the licence
is certified by its issuer, later changes other than further signatures are flagged), at PAdES
B-T or better (ETSI EN 319 142-1: a time-stamp from our TSA proves when it was sealed), with the
visible seal in the layout's seal box.

:class:`PdfSealer` is the small protocol issuance codes against (it let licences be built and
tested, with a pyHanko sealer over a real Seal CA key, before seal/ existed); the production
adapter over seal/'s ``SealService`` is :mod:`license.seal_adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

__all__ = ["IssuingSeal", "PdfSealer", "SealBox"]


@dataclass(frozen=True, slots=True)
class SealBox:
    """Where the visible seal goes: 0-based page index and a box in PDF points (origin bottom-left)."""

    page: int
    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        if self.page < 0 or self.width <= 0 or self.height <= 0:
            raise ValueError("a seal box needs a page >= 0 and a positive size")


@dataclass(frozen=True, slots=True)
class IssuingSeal:
    """The seal that signs a licence: id in seal/'s registry and its name (GB/T 36903 ZZQZMC)."""

    seal_id: str
    name: str
    owner_name: str


class PdfSealer(Protocol):
    def find_seal(self, session: Session, *, owner_uscc: str, seal_ref: str) -> IssuingSeal:
        """The active seal of kind ``seal_ref`` owned by ``owner_uscc``; raises ``NoIssuingSeal``."""
        ...

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
        """The PDF with a certification signature (B-T or better) by ``seal``, visible in ``box``."""
        ...
