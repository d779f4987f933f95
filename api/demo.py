"""The demo world (DESIGN.md "Demo mode"): fixed names that people, tests and scripts rely on.

Each domain issue adds its part here. Demo credentials are refused in production by Settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity import operators

if TYPE_CHECKING:
    from api.container import Services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-demo-pw"  # noqa: S105 - published demo credential, refused in production


def ensure_demo(services: Services) -> list[str]:
    lines: list[str] = []
    with services.db.session() as session:
        if session.get(operators.Operator, ADMIN_USER) is None:
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
    lines.extend(ensure_license_demo(services))
    return lines


# -- e-licences (issue 5) ------------------------------------------------------------------------
DEMO_LICENCE_TYPE = "11120000000002022H001"  # 职业资格证书 (built-in person licence)
DEMO_LICENCE_NUMBER = "TJ2024ZY000001"
DEMO_LICENCE_ISSUER_CLIENT = "demo-approval"


def demo_licence_data() -> dict[str, str]:
    """The citizen's qualification certificate (DESIGN.md demo: ``citizen`` has one licence)."""
    from identity.sources.demo import DEMO_CITIZEN

    return {
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "occupation": "电工",
        "level": "三级/高级工",
        "certificate_no": DEMO_LICENCE_NUMBER,
    }


def ensure_license_demo(services: Services) -> list[str]:
    """The demo department's licence-issuing seal and the citizen's licence (idempotent).

    The licence is issued like any other (holder checked in the identity registry, sealed by
    the department's ECDSA licence-issuing seal); if the registry cannot vouch for the citizen
    yet, it is left for the next start and a line says why.
    """
    from identity.sources.demo import DEMO_DEPARTMENT
    from license.errors import HolderNotEligible
    from license.service import Caller, run_blocking

    lines: list[str] = []
    licenses = services.licenses
    if licenses is None:
        return lines
    with services.db.session() as session:
        lines.extend(
            services.seal.ensure_demo(
                session,
                owner_uscc=DEMO_DEPARTMENT.uscc,
                owner_name=DEMO_DEPARTMENT.name,
                client_id=DEMO_LICENCE_ISSUER_CLIENT,
            )
        )
        if licenses.lineage_exists(session, DEMO_LICENCE_TYPE, DEMO_DEPARTMENT.uscc, DEMO_LICENCE_NUMBER):
            return lines
    caller = Caller(actor="ywt-demo", operator=True)
    try:
        view = run_blocking(
            lambda: licenses.issue(caller, DEMO_LICENCE_TYPE, demo_licence_data(), issuer_code=DEMO_DEPARTMENT.uscc)
        )
    except HolderNotEligible as exc:
        lines.append(f"demo licence not issued yet: {exc.detail}")
        return lines
    lines.append(f"demo licence: {view.type_name} {view.number} for citizen ({view.identifier})")
    return lines
