"""Certificate path validation (RFC 5280 §6) with revocation, against the trust list.

One engine for all three families: pyhanko-certvalidator (the path builder and validator
pyHanko uses, run through NIST PKITS by its authors and by us), with SM2 plugged into its
signature verification (:mod:`verify.sigalg`). The result is a :class:`PathResult` that keeps
what ETSI EN 319 102-1 needs to decide with time (revocation date and reason, expiry), so the
caller can apply the "validation with time" rules (§5.5) with a timestamp's proof of existence.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.policy_decl import AlgorithmUsagePolicy, PKIXValidationParams

from core import clock
from verify.report import Sub
from verify.sigalg import SIGNATURE_VALIDATOR
from verify.trust import TrustList, fingerprint

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous code, also when the calling thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class PathResult:
    """Outcome of validating one certificate at one moment."""

    trusted: bool
    message: str
    sub: Sub | None = None
    path: tuple[str, ...] = ()  # subjects, leaf first, anchor last
    anchor_sha256: str | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    expired: bool = False
    not_yet_valid: bool = False
    error_class: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "trusted": self.trusted,
            "message": self.message,
            "sub_indication": self.sub.value if self.sub else None,
            "path": list(self.path),
            "anchor_sha256": self.anchor_sha256,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
        }

    def __reduce__(self) -> Any:  # exceptions of certvalidator do not always pickle: drop them
        return (
            PathResult,
            (
                self.trusted,
                self.message,
                self.sub,
                self.path,
                self.anchor_sha256,
                self.revoked_at,
                self.revocation_reason,
                self.expired,
                self.not_yet_valid,
                self.error_class,
                None,
            ),
        )


def validation_context(
    trust: TrustList,
    *,
    at: datetime | None = None,
    other_certs: Iterable[x509.Certificate] = (),
    crls: Iterable[bytes] = (),
    ocsps: Iterable[bytes] = (),
    revocation: str = "hard-fail",
    retroactive_revinfo: bool = False,
    algorithm_policy: AlgorithmUsagePolicy | None = None,
) -> ValidationContext:
    """A certvalidator context trusting exactly ``trust``'s anchors, with SM2 support.

    ``revocation``: ``hard-fail`` (a certificate that names a CRL/OCSP source must have fresh
    revocation data), ``require`` (every certificate must), ``soft-fail`` (best effort).
    Fetching over the network is never allowed: revocation data comes from the document,
    from our CA in-process, or from the caller.
    """
    return ValidationContext(
        trust_roots=trust.root_certs(),
        other_certs=[*trust.intermediate_certs(), *other_certs],
        crls=list(crls),
        ocsps=list(ocsps),
        moment=at or clock.now(),
        revocation_mode=revocation,
        retroactive_revinfo=retroactive_revinfo,
        allow_fetching=False,
        algorithm_usage_policy=algorithm_policy,
        signature_validator=SIGNATURE_VALIDATOR,
    )


def validate_certificate(
    cert: x509.Certificate,
    *,
    trust: TrustList,
    intermediates: Iterable[x509.Certificate] = (),
    at: datetime | None = None,
    crls: Iterable[bytes] = (),
    ocsps: Iterable[bytes] = (),
    revocation: str = "hard-fail",
    retroactive_revinfo: bool = False,
    key_usage: set[str] | None = None,
    extended_key_usage: set[str] | None = None,
    pkix_params: PKIXValidationParams | None = None,
    algorithm_policy: AlgorithmUsagePolicy | None = None,
    context: ValidationContext | None = None,
) -> PathResult:
    """Build and validate a path from ``cert`` to an anchor of ``trust`` at ``at`` (default now).

    Never raises for a bad certificate: every failure becomes a :class:`PathResult` with an
    ETSI sub-indication (NO_CERTIFICATE_CHAIN_FOUND, REVOKED_NO_POE, OUT_OF_BOUNDS_NO_POE,
    NOT_YET_VALID, TRY_LATER, CRYPTO_CONSTRAINTS_FAILURE, CHAIN_CONSTRAINTS_FAILURE,
    CERTIFICATE_CHAIN_GENERAL_FAILURE).
    """
    when = at or clock.now()
    if revocation != "soft-fail" and not cert.not_valid_before <= when <= cert.not_valid_after:
        # Outside its validity the revocation status of a certificate is moot (and CRLs for that
        # time do not exist yet or any more): judge the chain alone, then report the validity.
        return validate_certificate(
            cert,
            trust=trust,
            intermediates=intermediates,
            at=at,
            revocation="soft-fail",
            pkix_params=pkix_params,
            algorithm_policy=algorithm_policy,
        )
    vc = context or validation_context(
        trust,
        at=at,
        other_certs=intermediates,
        crls=crls,
        ocsps=ocsps,
        revocation=revocation,
        retroactive_revinfo=retroactive_revinfo,
        algorithm_policy=algorithm_policy,
    )
    validator = CertificateValidator(
        cert, intermediate_certs=list(intermediates), validation_context=vc, pkix_params=pkix_params
    )
    try:
        path = run_sync(validator.async_validate_usage(key_usage or set(), extended_key_usage))  # type: ignore[no-untyped-call]
    except RevokedError as exc:
        return PathResult(
            False,
            str(exc),
            Sub.REVOKED_NO_POE,
            revoked_at=exc.revocation_dt,
            revocation_reason=str(exc.reason.native),
            error_class=type(exc).__name__,
            exception=exc,
        )
    except ExpiredError as exc:
        return PathResult(
            False, str(exc), Sub.OUT_OF_BOUNDS_NO_POE, expired=True, error_class=type(exc).__name__, exception=exc
        )
    except NotYetValidError as exc:
        return PathResult(
            False, str(exc), Sub.NOT_YET_VALID, not_yet_valid=True, error_class=type(exc).__name__, exception=exc
        )
    except InsufficientRevinfoError as exc:
        return PathResult(False, str(exc), Sub.TRY_LATER, error_class=type(exc).__name__, exception=exc)
    except DisallowedAlgorithmError as exc:
        return PathResult(
            False, str(exc), Sub.CRYPTO_CONSTRAINTS_FAILURE, error_class=type(exc).__name__, exception=exc
        )
    except PathBuildingError as exc:
        return PathResult(
            False,
            "no chain to a trusted root: " + str(exc),
            Sub.NO_CERTIFICATE_CHAIN_FOUND,
            error_class=type(exc).__name__,
            exception=exc,
        )
    except InvalidCertificateError as exc:
        return PathResult(False, str(exc), Sub.CHAIN_CONSTRAINTS_FAILURE, error_class=type(exc).__name__, exception=exc)
    except (PathValidationError, ValidationError) as exc:
        return PathResult(
            False, str(exc), Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE, error_class=type(exc).__name__, exception=exc
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return PathResult(
            False,
            f"the certificate could not be processed: {type(exc).__name__}",
            Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE,
            error_class=type(exc).__name__,
            exception=exc,
        )
    certs = list(path.iter_certs(include_root=True))
    anchor = certs[0] if certs else None
    return PathResult(
        True,
        "the certificate chains to a trusted root and is valid"
        + (" and not revoked" if revocation != "soft-fail" else ""),
        path=tuple(str(c.subject.human_friendly) for c in reversed(certs)),
        anchor_sha256=fingerprint(anchor.dump()) if anchor is not None else None,
    )
