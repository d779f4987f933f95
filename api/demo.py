"""The demo world (DESIGN.md "Demo mode"): fixed names that people, tests and scripts rely on.

Each domain issue adds its part here. Demo credentials are refused in production by Settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity import operators
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType
from identity.sources.demo import DEMO_DEPARTMENT

if TYPE_CHECKING:
    from api.container import Services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-demo-pw"  # noqa: S105 - published demo credential, refused in production
APPROVAL_CLIENT = "demo-approval"
APPROVAL_SECRET = "demo-approval-secret"  # noqa: S105 - published demo credential, refused in production
APPROVAL_SCOPES = frozenset({"seal:sign", "license:issue"})


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
    return lines
