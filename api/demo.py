"""The demo world (DESIGN.md "Demo mode"): fixed names that people, tests and scripts rely on.

Each domain issue adds its part here. Demo credentials are refused in production by Settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity import operators
from identity.sources.demo import DEMO_DEPARTMENT

if TYPE_CHECKING:
    from api.container import Services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-demo-pw"  # noqa: S105 - published demo credential, refused in production
DEMO_SEAL_CLIENT = "demo-approval"  # the approval-system client granted the department's seals


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
    with services.db.session() as session:
        lines += services.seal.ensure_demo(
            session, owner_uscc=DEMO_DEPARTMENT.uscc, owner_name=DEMO_DEPARTMENT.name, client_id=DEMO_SEAL_CLIENT
        )
    return lines
