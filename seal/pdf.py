"""PAdES sealing of PDF documents with pyHanko, keys kept in keys/.

What happens to an uploaded PDF, in order:

1. :func:`inspect_pdf` reads it with pyHanko in strict mode under pyHanko's decode limits and
   walks the page tree and the AcroForm field tree itself, with loop detection and a depth
   bound, so that a hostile file (not a PDF, truncated, encrypted, deeply nested, looping)
   is refused with a precise :class:`~seal.errors.InvalidPdf` before anything is signed.
2. :func:`resolve_placement` turns a :class:`Placement` (page + box, or anchor text found by
   :mod:`seal.anchor`) into a page index and a box inside the page's CropBox.
3. :func:`async_seal_pdf` signs with pyHanko's async API as an incremental update (earlier
   signatures stay intact): a :class:`SealSigner` (a pyHanko ``Signer`` whose ``async_sign_raw``
   calls our :class:`keys.Signer`, so no key is ever reloaded), a visible stamp (the seal's
   vector PDF imported as a form XObject, or its PNG), an in-process RFC 3161 timestamper
   (:class:`InProcessTimeStamper`), a DSS with our certificates, CRLs and OCSP responses for
   B-LT, and a document timestamp for B-LTA. :func:`pades_options` is the one place where a
   :class:`PadesLevel` becomes pyHanko options.

SM2 seals follow GM/T 0010 for the algorithm identifiers inside CMS (digestAlgorithm SM3
``1.2.156.10197.1.401``, signatureAlgorithm sm2sign ``1.2.156.10197.1.301.1``); the content
types stay those of RFC 5652 because ISO 32000 (``ETSI.CAdES.detached``) requires them.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

from asn1crypto import algos, crl, ocsp, tsp, x509
from asn1crypto import core as asn1core

from keys import Family, Signer
from seal.errors import (
    DamagedPdf,
    DocumentLocked,
    EncryptedPdf,
    InvalidSealRequest,
    NotAPdf,
    PageOutOfRange,
    PdfTooComplex,
    PdfTooLarge,
    PlacementOutsidePage,
    TimestampUnavailable,
)

__all__ = [
    "MAX_PAGES",
    "PT_PER_MM",
    "InProcessTimeStamper",
    "PadesLevel",
    "PadesOptions",
    "PdfFacts",
    "Placement",
    "ResolvedPlacement",
    "RevocationData",
    "SealJob",
    "SealSigner",
    "StampArt",
    "async_seal_pdf",
    "inspect_pdf",
    "pades_options",
    "resolve_placement",
]

PT_PER_MM: Final = 72.0 / 25.4
MAX_PAGES: Final = 5000
"""Documents with more pages are refused (an approval decision has a handful)."""
MAX_TREE_DEPTH: Final = 64
"""Page-tree / field-tree depth beyond which a document is refused as hostile."""
MIN_BOX_PT: Final = 10.0
MAX_BOX_PT: Final = 1000.0
MAX_ANCHOR_CHARS: Final = 100
MAX_TEXT_FIELD: Final = 200

TsaFn = Callable[[bytes], bytes]
"""``tsa(TimeStampReq DER) -> TimeStampResp DER`` (RFC 3161), answered in-process by ca/."""


class PadesLevel(StrEnum):
    """ETSI EN 319 142-1 PAdES baseline levels."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


@dataclass(frozen=True)
class PadesOptions:
    """What a level means for the signing run (see :func:`pades_options`)."""

    signature_timestamp: bool
    embed_revocation: bool
    document_timestamp: bool


def pades_options(level: PadesLevel) -> PadesOptions:
    """The one mapping from a PAdES level to what we ask of pyHanko.

    B-B: CAdES-detached signature (``/SubFilter /ETSI.CAdES.detached``, ESS signing-certificate-v2),
    no timestamp. B-T: plus a signature timestamp (unsigned attribute, RFC 3161) from our TSA.
    B-LT: plus a DSS (ISO 32000-2 §12.8.4.3) with the chains, CRLs and OCSP responses of the
    signer and the TSA. B-LTA: plus a document timestamp over everything (ETSI EN 319 142-1 §5.5).
    """
    level = PadesLevel(level)
    return PadesOptions(
        signature_timestamp=level is not PadesLevel.B_B,
        embed_revocation=level in (PadesLevel.B_LT, PadesLevel.B_LTA),
        document_timestamp=level is PadesLevel.B_LTA,
    )


# ------------------------------------------------------------------------------ placement


def _finite(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSealRequest(name, "must be a finite number")
    v = float(value)
    if not low <= v <= high:
        raise InvalidSealRequest(name, f"must be between {low:g} and {high:g}")
    return v


@dataclass(frozen=True)
class Placement:
    """Where the visible seal goes: ``page`` (1-based) and a box, or ``anchor`` text.

    With coordinates, ``x``/``y`` are the lower-left corner of the seal box in points, measured
    from the lower-left corner of the page's visible area (CropBox, else MediaBox); ``width`` /
    ``height`` default to the seal's size. With ``anchor``, the seal is centred on the first
    occurrence of that text (whitespace ignored), searched on ``page`` if given, else on every
    page in order. Exactly one of the two ways must be used.
    """

    page: int | None = None
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None
    anchor: str | None = None

    def __post_init__(self) -> None:
        if self.page is not None and (
            isinstance(self.page, bool) or not isinstance(self.page, int) or not 1 <= self.page <= MAX_PAGES
        ):
            raise InvalidSealRequest("page", f"must be a page number from 1 to {MAX_PAGES}")
        has_xy = self.x is not None or self.y is not None
        if self.anchor is not None:
            if has_xy:
                raise InvalidSealRequest("anchor", "give either an anchor text or x and y, not both")
            if not isinstance(self.anchor, str):
                raise InvalidSealRequest("anchor", "must be text")
            text = "".join(unicodedata.normalize("NFKC", self.anchor).split())
            if not 1 <= len(text) <= MAX_ANCHOR_CHARS or any(unicodedata.category(c)[0] == "C" for c in text):
                raise InvalidSealRequest("anchor", f"must have 1 to {MAX_ANCHOR_CHARS} printable characters")
            object.__setattr__(self, "anchor", text)
        else:
            if self.x is None or self.y is None:
                raise InvalidSealRequest("placement", "give x and y (with page), or an anchor text")
            object.__setattr__(self, "x", _finite("x", self.x, 0, 14400))
            object.__setattr__(self, "y", _finite("y", self.y, 0, 14400))
            if self.page is None:
                object.__setattr__(self, "page", 1)
        for dim in ("width", "height"):
            v = getattr(self, dim)
            if v is not None:
                object.__setattr__(self, dim, _finite(dim, v, MIN_BOX_PT, MAX_BOX_PT))

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("page", "x", "y", "width", "height", "anchor")}


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageFacts:
    crop_box: Box  # x1, y1, x2, y2 normalised (x1 < x2, y1 < y2)
    media_box: Box
    rotate: int


@dataclass(frozen=True)
class PdfFacts:
    """What we learnt about an uploaded PDF before signing it."""

    size: int
    pages: tuple[PageFacts, ...]
    field_names: frozenset[str]
    signed_fields: int
    docmdp: int | None  # certification permission level P (1, 2, 3), None if not certified

    @property
    def page_count(self) -> int:
        return len(self.pages)


@dataclass(frozen=True)
class ResolvedPlacement:
    page_index: int  # 0-based
    box: Box  # absolute user-space coordinates on that page


def _seal_box(page: PageFacts, x: float, y: float, w: float, h: float) -> Box:
    x1, y1 = page.crop_box[0] + x, page.crop_box[1] + y
    box = (x1, y1, x1 + w, y1 + h)
    cx1, cy1, cx2, cy2 = page.crop_box
    eps = 0.01
    if box[0] < cx1 - eps or box[1] < cy1 - eps or box[2] > cx2 + eps or box[3] > cy2 + eps:
        raise PlacementOutsidePage(
            f"the seal box {tuple(round(v, 1) for v in box)} does not fit in the visible page "
            f"{tuple(round(v, 1) for v in page.crop_box)}",
            box=[round(v, 2) for v in box],
            page_box=[round(v, 2) for v in page.crop_box],
        )
    return box


AnchorFinder = Callable[[bytes, str, Sequence[int]], "tuple[int, Box] | None"]


def resolve_placement(
    facts: PdfFacts,
    pdf: bytes,
    placement: Placement,
    seal_size_pt: tuple[float, float],
    find_anchor: AnchorFinder,
) -> ResolvedPlacement:
    """Page index and absolute box for the seal; raises for a page or box that does not exist."""
    w = placement.width or seal_size_pt[0]
    h = placement.height or seal_size_pt[1]
    if placement.page is not None and placement.page > facts.page_count:
        raise PageOutOfRange(placement.page, facts.page_count)
    if placement.anchor is None:
        assert placement.page is not None and placement.x is not None and placement.y is not None
        page = facts.pages[placement.page - 1]
        return ResolvedPlacement(placement.page - 1, _seal_box(page, placement.x, placement.y, w, h))
    indexes = [placement.page - 1] if placement.page is not None else list(range(facts.page_count))
    hit = find_anchor(pdf, placement.anchor, indexes)
    if hit is None:
        from seal.errors import AnchorNotFound

        raise AnchorNotFound(len(placement.anchor))
    index, (ax1, ay1, ax2, ay2) = hit
    page = facts.pages[index]
    # centre the seal on the anchor text (coordinates relative to the CropBox origin), then
    # move it inside the page if the anchor is near an edge
    cx, cy = (ax1 + ax2) / 2 - page.crop_box[0], (ay1 + ay2) / 2 - page.crop_box[1]
    pw, ph = page.crop_box[2] - page.crop_box[0], page.crop_box[3] - page.crop_box[1]
    x = min(max(cx - w / 2, 0.0), max(pw - w, 0.0))
    y = min(max(cy - h / 2, 0.0), max(ph - h, 0.0))
    return ResolvedPlacement(index, _seal_box(page, x, y, w, h))


# ------------------------------------------------------------------------------ inspection


def _get(d: Any, key: str) -> Any:
    """Dictionary lookup that resolves an indirect value (pyHanko's ``get`` does not)."""
    return d[key] if key in d else None  # noqa: SIM401 - get() would not dereference


def _number_box(value: Any, what: str) -> Box:
    from pyhanko.pdf_utils import generic

    arr = cast(Any, value).get_object() if isinstance(value, generic.IndirectObject) else value
    if not isinstance(arr, generic.ArrayObject) or len(arr) != 4:
        raise DamagedPdf(f"the page {what} is not an array of four numbers")
    nums = []
    for item in arr:
        v = cast(Any, item).get_object() if isinstance(item, generic.IndirectObject) else item
        if not isinstance(v, generic.NumberObject | generic.FloatObject) or not math.isfinite(float(v)):
            raise DamagedPdf(f"the page {what} is not an array of four numbers")
        nums.append(float(v))
    x1, y1, x2, y2 = nums
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        raise DamagedPdf(f"the page {what} is empty")
    return box


def _walk_pages(root: Any) -> list[PageFacts]:
    """Iterative page-tree walk (ISO 32000-1 §7.7.3) with inherited boxes, loop and depth checks."""
    from pyhanko.pdf_utils import generic

    out: list[PageFacts] = []
    seen: set[tuple[int, int]] = set()
    if "/Pages" not in root:
        raise DamagedPdf("the document catalog has no page tree")
    stack: list[tuple[Any, dict[str, Any], int]] = [(root.raw_get("/Pages"), {}, 0)]
    while stack:
        ref, inherited, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise PdfTooComplex(f"the page tree is nested deeper than {MAX_TREE_DEPTH} levels")
        if isinstance(ref, generic.IndirectObject):
            key = (ref.idnum, ref.generation)
            if key in seen:
                raise PdfTooComplex("the page tree loops (a node is its own descendant)")
            seen.add(key)
            node = cast(Any, ref).get_object()
        else:
            node = ref
        if not isinstance(node, generic.DictionaryObject):
            raise DamagedPdf("a page-tree node is not a dictionary")
        attrs = dict(inherited)
        for k in ("/MediaBox", "/CropBox", "/Rotate"):
            if k in node:
                attrs[k] = node.raw_get(k)
        kind = _get(node, "/Type")
        if kind == "/Pages" or (kind is None and "/Kids" in node):
            kids = _get(node, "/Kids")
            if not isinstance(kids, generic.ArrayObject):
                raise DamagedPdf("a page-tree node has no /Kids array")
            if len(kids) + len(out) + len(stack) > MAX_PAGES * 2:
                raise PdfTooComplex(f"the document has more than {MAX_PAGES} pages")
            for kid in reversed([kids.raw_get(i) for i in range(len(kids))]):
                stack.append((kid, attrs, depth + 1))
            continue
        if "/MediaBox" not in attrs:
            raise DamagedPdf(f"page {len(out) + 1} has no MediaBox")
        media = _number_box(attrs["/MediaBox"], "MediaBox")
        crop = _number_box(attrs["/CropBox"], "CropBox") if "/CropBox" in attrs else media
        # ISO 32000-1 §14.11.2: the effective crop box is clipped to the media box
        crop = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
        if crop[2] - crop[0] < 1 or crop[3] - crop[1] < 1:
            crop = media
        rotate_obj = attrs.get("/Rotate", 0)
        rotate_obj = (
            cast(Any, rotate_obj).get_object() if isinstance(rotate_obj, generic.IndirectObject) else rotate_obj
        )
        rotate = int(rotate_obj) if isinstance(rotate_obj, int) and rotate_obj % 90 == 0 else 0
        out.append(PageFacts(crop, media, rotate % 360))
        if len(out) > MAX_PAGES:
            raise PdfTooComplex(f"the document has more than {MAX_PAGES} pages")
    if not out:
        raise DamagedPdf("the document has no pages")
    return out


def inspect_pdf(data: bytes, *, max_bytes: int) -> PdfFacts:
    """Refuse what cannot or must not be sealed; describe the rest.

    ISO 32000-1 §7.5.2 allows the header within the first 1024 bytes. pyHanko reads in strict
    mode (a file whose cross-reference data does not match is damaged, not "repaired") and with
    its decode limits for untrusted input (decompression bombs).
    """
    from pyhanko.pdf_utils import misc
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation.pdf_embedded import read_certification_data

    if len(data) > max_bytes:
        raise PdfTooLarge(len(data), max_bytes)
    if not data:
        raise NotAPdf("the upload is empty")
    if b"%PDF-" not in data[:1024]:
        raise NotAPdf("the upload does not start with a PDF header (%PDF-)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypted:
            raise EncryptedPdf("the PDF is encrypted; decrypt it before sealing (a seal must cover readable content)")
        root = reader.root
        pages = _walk_pages(root)
        names: set[str] = set()
        signed = 0
        for name, value, _ref in enumerate_sig_fields(reader):
            names.add(str(name))
            if value is not None:
                signed += 1
        acro = _get(root, "/AcroForm")
        if acro is not None and "/Fields" in acro:
            names.update(_top_field_names(acro["/Fields"]))
        cert = read_certification_data(reader)
        docmdp = int(cert.permission.value) if cert is not None else None
    except (EncryptedPdf, PdfTooComplex, DamagedPdf):
        raise
    except RecursionError:
        raise PdfTooComplex("the PDF nests objects too deeply to be read safely") from None
    except misc.PdfDecodeLimitError as exc:
        raise PdfTooComplex(f"a stream decodes to more data than allowed: {str(exc)[:200]}") from None
    except (misc.PdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, OSError) as exc:
        # pyHanko raises PdfReadError/PdfStrictReadError for truncation and broken xref tables;
        # the others come from structurally wrong objects (a /Kids that is a number, ...)
        reason = str(exc)[:200] or type(exc).__name__
        if "ircular" in reason:
            raise PdfTooComplex(f"the PDF structure loops: {reason}") from None
        raise DamagedPdf(f"the PDF is truncated or damaged: {reason}") from None
    return PdfFacts(len(data), tuple(pages), frozenset(names), signed, docmdp)


def _top_field_names(fields: Any) -> set[str]:
    from pyhanko.pdf_utils import generic

    out: set[str] = set()
    if isinstance(fields, generic.ArrayObject):
        for f in [fields.raw_get(i) for i in range(min(len(fields), 10000))]:
            obj = cast(Any, f).get_object() if isinstance(f, generic.IndirectObject) else f
            if isinstance(obj, generic.DictionaryObject) and "/T" in obj:
                out.add(str(obj["/T"]))
    return out


def check_signable(facts: PdfFacts, *, certify: bool) -> None:
    """ISO 32000-1 §12.8.2.2: no change at all after a P=1 certification; a certification
    signature must be the first signature in the document."""
    if facts.docmdp == 1:
        raise DocumentLocked("the document is certified with 'no changes allowed' (DocMDP P=1); it cannot be sealed")
    if certify and facts.signed_fields:
        raise DocumentLocked(
            f"certification must be the first signature; the document already has {facts.signed_fields}",
            signatures=facts.signed_fields,
        )


# ------------------------------------------------------------------------------ signing


_MECHANISMS: Final = {
    Family.RSA: ("sha256_rsa", "sha256"),
    Family.ECDSA: ("sha256_ecdsa", "sha256"),
    # GM/T 0010 SignerInfo: digestEncryptionAlgorithm sm2sign, digestAlgorithm SM3
    Family.SM2: ("sm2sign", "sm3"),
}


def _pyhanko_signer_class() -> type:
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.signers import Signer as PyHankoSigner

    class _KeysBackedSigner(PyHankoSigner):
        """pyHanko ``Signer`` whose raw signature comes from a keys/ ``Signer`` (never a key file).

        Certificates are handed to pyHanko as freshly loaded, not yet parsed asn1crypto objects:
        pyHanko re-tags every certificate it embeds, and asn1crypto deep-copies (and then
        re-encodes) a parsed one, which cost more than the RSA signature itself. An unparsed
        certificate is copied and written as its original bytes.
        """

        def __init__(self, signer: Signer, cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> None:
            family = signer.algorithm.family
            mechanism, self._md = _MECHANISMS[family]
            self._signer = signer
            self._cert_der = cert.dump()
            self._chain_der = tuple(c.dump() for c in chain)
            key_bytes = (cert.public_key.bit_size + 7) // 8
            self._max_len = key_bytes if family is Family.RSA else 2 * key_bytes + 9
            algorithm: dict[str, Any] = {"algorithm": mechanism}
            if family is Family.SM2:
                algorithm["parameters"] = asn1core.Null()  # as in GM/T 0010 examples and our TSA
            super().__init__(
                signing_cert=cert,
                signature_mechanism=algos.SignedDigestAlgorithm(algorithm),
                embed_roots=True,
            )

        @property
        def signing_cert(self) -> x509.Certificate:
            return x509.Certificate.load(self._cert_der)

        @property
        def cert_registry(self) -> Any:
            # only iterated when the CMS is packaged (no path building happens at signing)
            return [x509.Certificate.load(d) for d in (self._cert_der, *self._chain_der)]

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if digest_algorithm != self._md:
                raise SigningError(f"this seal signs with {self._md}, not {digest_algorithm}")
            if dry_run:
                return bytes(self._max_len)
            return self._signer.sign(data)

    return _KeysBackedSigner


class SealSigner:
    """Everything that stays the same between two uses of one seal: the keys/ signer, the
    certificate and chain (parsed once), the pyHanko adapter and the digest algorithm."""

    def __init__(self, signer: Signer, cert_der: bytes, chain_der: Sequence[bytes]) -> None:
        self.family = signer.algorithm.family
        self.cert = x509.Certificate.load(cert_der)
        self.chain = tuple(x509.Certificate.load(c) for c in chain_der)
        self.md_algorithm = _MECHANISMS[self.family][1]
        self.pyhanko = _pyhanko_signer_class()(signer, self.cert, self.chain)
        self.cms_size = len(cert_der) + sum(len(c) for c in chain_der) + 2 * self.pyhanko._max_len + 2500

    @property
    def name(self) -> str:
        native = self.cert.subject.native
        return str(native.get("common_name") or native.get("organization_name") or "")


class InProcessTimeStamper:
    """Factory for a pyHanko ``TimeStamper`` that asks our TSA in-process (ca/ ``timestamp``),
    so a B-T signature costs no HTTP round trip. RFC 3161 request and response are the real
    DER messages; pyHanko checks status and nonce as it would for a remote TSA."""

    @staticmethod
    def create(tsa: TsaFn) -> Any:
        from pyhanko.sign.timestamps.api import TimeStamper

        class _InProcess(TimeStamper):
            async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
                try:
                    der = tsa(req.dump())
                    return tsp.TimeStampResp.load(der)
                except TimestampUnavailable:
                    raise
                except Exception as exc:
                    raise TimestampUnavailable(f"the TSA failed: {type(exc).__name__}") from exc

        return cast(Any, _InProcess)(include_nonce=True)


@dataclass(frozen=True)
class RevocationData:
    """Validation material for a DSS (B-LT): certificates, CRLs and OCSP responses, DER."""

    certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class StampArt:
    """The visible seal: a one-page vector PDF of the seal, or a PNG (uploaded images)."""

    pdf: bytes | None = None
    png: bytes | None = None

    def __post_init__(self) -> None:
        if (self.pdf is None) == (self.png is None):
            raise ValueError("StampArt needs exactly one of pdf or png")


@dataclass(frozen=True)
class SealJob:
    pdf: bytes
    placement: ResolvedPlacement
    level: PadesLevel
    field_name: str
    art: StampArt
    reason: str | None = None
    location: str | None = None
    certify: bool = False
    tst_size: int = 8000  # expected DER size of one of our timestamp tokens
    cross_page: bool = False  # also a 骑缝章: a slice of the seal on the right edge of every page
    extra: dict[str, Any] = field(default_factory=dict)


def _stamp_style(art: StampArt) -> Any:
    from pyhanko.pdf_utils import content, layout
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.stamp import StaticStampStyle

    if art.pdf is not None:
        seal_pdf = art.pdf

        class _ImportedSeal(content.PdfContent):
            """ISO 32000-1 §8.10: the seal page becomes a form XObject of the new revision."""

            def render(self) -> bytes:
                w = self._ensure_writer
                xobj = w.import_page_as_xobject(PdfFileReader(io.BytesIO(seal_pdf)), page_ix=0)
                self.resources.xobject["/YwtSeal"] = xobj
                x1, y1, x2, y2 = (float(v) for v in cast(Any, xobj).get_object()["/BBox"])
                self.box = layout.BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
                return b"/YwtSeal Do"

        background: Any = _ImportedSeal()
    else:
        from PIL import Image
        from pyhanko.pdf_utils.images import PdfImage

        assert art.png is not None
        background = PdfImage(Image.open(io.BytesIO(art.png)))
    return StaticStampStyle(
        border_width=0,
        background=background,
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=cast(Any, layout.Margins).uniform(0),
            inner_content_scaling=layout.InnerScaling.STRETCH_TO_FIT,
        ),
    )


def _clean(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > MAX_TEXT_FIELD or any(unicodedata.category(c)[0] == "C" for c in text):
        raise InvalidSealRequest(name, f"must be at most {MAX_TEXT_FIELD} printable characters")
    return text


async def async_seal_pdf(
    job: SealJob, signer: SealSigner, *, tsa: TsaFn | None, revocation: RevocationData | None
) -> bytes:
    """Sign ``job.pdf`` with pyHanko's async API; returns the sealed PDF (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    opts = pades_options(job.level)
    if opts.signature_timestamp and tsa is None:
        raise TimestampUnavailable(f"level {job.level} needs a time-stamping authority")
    timestamper = InProcessTimeStamper.create(tsa) if tsa is not None and opts.signature_timestamp else None
    x1, y1, x2, y2 = job.placement.box
    meta = signers.PdfSignatureMetadata(
        field_name=job.field_name,
        md_algorithm=signer.md_algorithm,
        subfilter=SigSeedSubFilter.PADES,
        reason=_clean("reason", job.reason),
        location=_clean("location", job.location),
        name=signer.name or None,
        certify=job.certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer.pyhanko,
        timestamper=timestamper,
        stamp_style=_stamp_style(job.art),
        new_field_spec=fields.SigFieldSpec(
            sig_field_name=job.field_name, on_page=job.placement.page_index, box=cast(Any, (x1, y1, x2, y2))
        ),
    )
    cms_size = signer.cms_size + (job.tst_size + 600 if timestamper is not None else 0)
    writer = IncrementalPdfFileWriter(io.BytesIO(job.pdf), strict=True)
    if job.cross_page:
        _add_cross_page_slices(writer, job)
    out = await pdf_signer.async_sign_pdf(writer, bytes_reserved=2 * cms_size)
    data: bytes = out.getvalue()
    if opts.embed_revocation and revocation is not None:
        data = _add_dss(data, revocation)
    if opts.document_timestamp:
        assert timestamper is not None
        ts_writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
        ts_out = await signers.PdfTimeStamper(timestamper).async_timestamp_pdf(
            ts_writer, signer.md_algorithm, bytes_reserved=2 * (job.tst_size + 600)
        )
        data = ts_out.getvalue()
    return data


def _add_cross_page_slices(writer: Any, job: SealJob) -> None:
    """骑缝章 (cross-page seal): the seal cut into as many vertical slices as the document has
    pages, slice *i* as a locked, printable stamp annotation on the right edge of page *i*
    (ISO 32000-1 §12.5.6.12), so that the pages laid side by side show the whole seal. The
    annotations are written in the same incremental update as the signature, so the signature
    covers them."""
    from pyhanko.pdf_utils import generic as pdf_generic

    generic: Any = pdf_generic  # pyHanko's object constructors are untyped
    from pyhanko.pdf_utils.reader import PdfFileReader

    if job.art.pdf is None:
        raise InvalidSealRequest("cross_page", "needs a generated (vector) seal image, not an uploaded one")
    pages = job.extra["page_boxes"]
    n = len(pages)
    seal_ref = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(job.art.pdf)), page_ix=0)
    bx1, by1, bx2, by2 = (float(v) for v in cast(Any, seal_ref).get_object()["/BBox"])
    width, height = bx2 - bx1, by2 - by1
    slice_w = width / n
    for i, (_cx1, cy1, cx2, cy2) in enumerate(pages):
        form = generic.StreamObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/XObject"),
                generic.NameObject("/Subtype"): generic.NameObject("/Form"),
                generic.NameObject("/BBox"): generic.ArrayObject(
                    [
                        generic.FloatObject(0),
                        generic.FloatObject(0),
                        generic.FloatObject(slice_w),
                        generic.FloatObject(height),
                    ]
                ),
                generic.NameObject("/Resources"): generic.DictionaryObject(
                    {
                        generic.NameObject("/XObject"): generic.DictionaryObject(
                            {generic.NameObject("/YwtSeal"): seal_ref}
                        )
                    }
                ),
            },
            stream_data=f"q 1 0 0 1 {-(i * slice_w + bx1):.4f} {-by1:.4f} cm /YwtSeal Do Q".encode(),
        )
        form_ref = writer.add_object(form)
        mid = (cy1 + cy2) / 2
        rect = [cx2 - slice_w, mid - height / 2, cx2, mid + height / 2]
        page_ref, _ = writer.find_page_for_modification(i)
        annot = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Stamp"),
                generic.NameObject("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
                generic.NameObject("/AP"): generic.DictionaryObject({generic.NameObject("/N"): form_ref}),
                generic.NameObject("/F"): generic.NumberObject(4 | 128),  # Print, Locked
                generic.NameObject("/P"): page_ref,
                generic.NameObject("/NM"): generic.TextStringObject(f"{job.field_name}-cross-{i + 1}"),
                generic.NameObject("/Contents"): generic.TextStringObject(f"骑缝章 {i + 1}/{n}"),
            }
        )
        annot_ref = writer.add_object(annot)
        page = cast(Any, page_ref).get_object()
        if "/Annots" in page:
            raw = page.raw_get("/Annots")
            if isinstance(raw, generic.IndirectObject):
                cast(Any, raw).get_object().append(annot_ref)
                writer.mark_update(raw)
                continue
            page["/Annots"].append(annot_ref)
        else:
            page[generic.NameObject("/Annots")] = generic.ArrayObject([annot_ref])
        writer.update_container(page)


def _add_dss(data: bytes, rev: RevocationData) -> bytes:
    """ISO 32000-2 §12.8.4.3 Document Security Store as one more incremental update."""
    from pyhanko.sign.validation import DocumentSecurityStore

    buf = io.BytesIO(data)
    DocumentSecurityStore.add_dss(
        buf,
        sig_contents=None,
        certs=[x509.Certificate.load(c) for c in rev.certs],
        ocsps=[ocsp.OCSPResponse.load(o) for o in rev.ocsps],
        crls=[crl.CertificateList.load(c) for c in rev.crls],
        force_write=True,
    )
    return buf.getvalue()
