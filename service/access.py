"""Who may do what. Domain code asks these questions; it never sees HTTP."""

from dataclasses import dataclass
from typing import Literal

from service.errors import Forbidden

Role = Literal["admin", "manager", "recorder", "auditor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "manager", "recorder", "auditor", "viewer")

# Who reads what: viewers (procurement portals) see organizations, facilities, SKUs and answers;
# managers, recorders and auditors see lots and events too; the audit trail is the auditor's.
# Admin keys are the operator's and global. A manager does what a recorder may for its own
# organization, and manages that organization's keys (never an admin or auditor key).
READ_CATALOG: tuple[Role, ...] = ROLES
READ_MATERIAL: tuple[Role, ...] = ("admin", "manager", "recorder", "auditor")
READ_AUDIT: tuple[Role, ...] = ("admin", "auditor")
WRITE_OWN: tuple[Role, ...] = ("admin", "manager", "recorder")
MANAGE_KEYS: tuple[Role, ...] = ("admin", "manager")
ADMIN_ONLY: tuple[Role, ...] = ("admin",)
# The roles of the keys a manager may give its own organization: the operator's alone make admins and auditors.
MANAGER_GRANTS: tuple[Role, ...] = ("manager", "recorder", "viewer")


@dataclass(frozen=True)
class Principal:
    """The caller: a role, and the organization and key it acts for (none for the operator's admin key)."""

    role: Role
    organization_pk: int | None = None
    organization: str | None = None
    key_id: str | None = None

    @property
    def scope(self) -> str:
        """What idempotency keys are scoped to: the API key that sent them."""
        return self.key_id or "operator"

    def require(self, roles: tuple[Role, ...]) -> None:
        if self.role not in roles:
            raise Forbidden(f"A {self.role} key may not do this.")

    def require_own(self, organization_pk: int, what: str) -> None:
        """Managers and recorders act only for their own organization; admins for any."""
        if self.role == "admin":
            return
        self.require(WRITE_OWN)
        if organization_pk != self.organization_pk:
            raise Forbidden(f"A {self.role} of {self.organization} may not {what} of another organization.")


OPERATOR = Principal(role="admin")
