"""The demo world (DESIGN.md "Demo mode"): fixed names that people, tests and scripts rely on.

Each domain issue adds its part here. Demo credentials are refused in production by Settings.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from core.errors import YwtError
from identity import operators
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType
from identity.levels import Level, Method
from identity.sources.demo import DEMO_CITIZEN, DEMO_DEPARTMENT

if TYPE_CHECKING:
    from api.container import Services

T = TypeVar("T")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-demo-pw"  # noqa: S105 - published demo credential, refused in production
APPROVAL_CLIENT = "demo-approval"
APPROVAL_SECRET = "demo-approval-secret"  # noqa: S105 - published demo credential, refused in production
APPROVAL_SCOPES = frozenset({"seal:sign", "license:issue"})
RP_CLIENT = "demo-rp"
RP_REDIRECT = "http://127.0.0.1:8765/callback"
RP_POST_LOGOUT = "http://127.0.0.1:8765/"
RP_SCOPES = frozenset({"openid", "profile", "phone", "entity"})
CITIZEN_USER = "citizen"
CITIZEN_PASSWORD = "citizen-demo-pw"  # noqa: S105 - published demo credential, refused in production


def ensure_demo(services: Services) -> list[str]:
    lines: list[str] = []
    with services.db.session() as session:
        if operators.get_operator(session, ADMIN_USER) is None:
            operators.create_operator(
                session,
                services.journal,
                ADMIN_USER,
                ADMIN_PASSWORD,
                set(operators.Role),
                display_name="演示管理员",
                actor="ywt-demo",
            )
            lines.append(f"demo operator: {ADMIN_USER} / {ADMIN_PASSWORD} (all roles)")
        clients = services.identity.clients
        if clients.find(session, APPROVAL_CLIENT) is None:
            clients.create(
                session,
                ClientSpec(
                    client_id=APPROVAL_CLIENT,
                    name="示例审批系统 (demo approval system)",
                    client_type=ClientType.CONFIDENTIAL,
                    auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                    grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
                    scopes=APPROVAL_SCOPES,
                    acts_for_uscc=DEMO_DEPARTMENT.uscc,
                ),
                secret=APPROVAL_SECRET,
                actor="ywt-demo",
            )
            lines.append(
                f"demo client (client_credentials): {APPROVAL_CLIENT} / {APPROVAL_SECRET}, "
                f"scopes {' '.join(sorted(APPROVAL_SCOPES))}, "
                f"acting for {DEMO_DEPARTMENT.name} ({DEMO_DEPARTMENT.uscc})"
            )
        if clients.find(session, RP_CLIENT) is None:
            clients.create(
                session,
                ClientSpec(
                    client_id=RP_CLIENT,
                    name="示例部门业务系统 (demo relying party)",
                    client_type=ClientType.PUBLIC,
                    auth_method=AuthMethod.NONE,
                    grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
                    scopes=RP_SCOPES,
                    redirect_uris=(RP_REDIRECT,),
                    post_logout_redirect_uris=(RP_POST_LOGOUT,),
                ),
                actor="ywt-demo",
            )
            lines.append(f"demo public OIDC client (PKCE): {RP_CLIENT}, redirect {RP_REDIRECT}")
    lines.extend(_demo_citizen(services))
    with services.db.session() as session:
        lines += services.seal.ensure_demo(
            session, owner_uscc=DEMO_DEPARTMENT.uscc, owner_name=DEMO_DEPARTMENT.name, client_id=APPROVAL_CLIENT
        )
    lines.extend(ensure_license_demo(services))
    return lines


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running loop
    (the app's lifespan): in a thread of its own with a fresh event loop."""
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(coro_factory()))  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="ywt-demo")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def _demo_citizen(services: Services) -> list[str]:
    """``citizen`` / ``citizen-demo-pw``: 张三 of the demo data set, verified at L2 for real
    (two-element check against the population source) with the demo phone number (L1)."""
    identity = services.identity
    with services.db.session() as session:
        account = identity.accounts.by_username(session, CITIZEN_USER)
        if account is None:
            account = identity.accounts.create(
                session,
                CITIZEN_USER,
                CITIZEN_PASSWORD,
                display_name=DEMO_CITIZEN.name,
                phone=DEMO_CITIZEN.phone,
                actor="ywt-demo",
            )
            identity.registry.record_verification(
                session,
                account.id,
                level=Level.L1,
                method=Method.PHONE_OTP,
                source="demo-setup",
                evidence_ref="demo-setup:phone",
                person_id=None,
                actor="ywt-demo",
            )
        if account.person_id is not None:
            return []
        account_id = account.id
    try:
        _run(
            lambda: identity.verifier.register_person(
                account_id, DEMO_CITIZEN.name, DEMO_CITIZEN.id_number, DEMO_CITIZEN.phone, actor="ywt-demo"
            )
        )
    except YwtError as exc:
        return [f"demo citizen {CITIZEN_USER}: not verified yet ({exc.detail}); it is retried at next start"]
    return [f"demo citizen: {CITIZEN_USER} / {CITIZEN_PASSWORD} ({DEMO_CITIZEN.name}, level L2)"]


# -- e-licences (issue 5) ------------------------------------------------------------------------
DEMO_LICENCE_TYPE = "11120000000002022H001"  # 职业资格证书 (built-in person licence)
DEMO_LICENCE_NUMBER = "TJ2024ZY000001"


def demo_licence_data() -> dict[str, str]:
    """The citizen's qualification certificate (DESIGN.md demo: ``citizen`` has one licence)."""
    return {
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "occupation": "电工",
        "level": "三级/高级工",
        "certificate_no": DEMO_LICENCE_NUMBER,
    }


def ensure_license_demo(services: Services) -> list[str]:
    """The citizen's licence, issued by the demo department (idempotent).

    The licence is issued like any other (holder checked in the identity registry, sealed by
    the department's ECDSA licence-issuing seal from the seal demo above); if the registry
    cannot vouch for the citizen yet, it is left for the next start and a line says why.
    """
    from license.errors import HolderNotEligible, NoIssuingSeal
    from license.service import Caller, run_blocking

    lines: list[str] = []
    licenses = services.licenses
    if licenses is None:
        return lines
    with services.db.session() as session:
        if licenses.lineage_exists(session, DEMO_LICENCE_TYPE, DEMO_DEPARTMENT.uscc, DEMO_LICENCE_NUMBER):
            return lines
    caller = Caller(actor="ywt-demo", operator=True)
    try:
        view = run_blocking(
            lambda: licenses.issue(caller, DEMO_LICENCE_TYPE, demo_licence_data(), issuer_code=DEMO_DEPARTMENT.uscc)
        )
    except (HolderNotEligible, NoIssuingSeal) as exc:
        lines.append(f"demo licence not issued yet: {exc.detail}")
        return lines
    lines.append(f"demo licence: {view.type_name} {view.number} for citizen ({view.identifier})")
    return lines
