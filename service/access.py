"""Who may do what. Domain code asks these questions; it never sees HTTP."""

from dataclasses import dataclass
from typing import Literal

from service.errors import Forbidden

Role = Literal["admin", "recorder", "auditor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "recorder", "auditor", "viewer")

# Who reads what: viewers (procurement portals) see organizations, facilities, SKUs and answers;
# recorders and auditors see lots and events too; keys are the admin's; the audit trail the auditor's.
READ_CATALOG: tuple[Role, ...] = ROLES
READ_MATERIAL: tuple[Role, ...] = ("admin", "recorder", "auditor")
READ_AUDIT: tuple[Role, ...] = ("admin", "auditor")
WRITE_OWN: tuple[Role, ...] = ("admin", "recorder")
ADMIN_ONLY: tuple[Role, ...] = ("admin",)


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
        """Recorders act only for their own organization; admins for any."""
        if self.role == "admin":
            return
        self.require(WRITE_OWN)
        if organization_pk != self.organization_pk:
            raise Forbidden(f"A recorder of {self.organization} may not {what} of another organization.")


OPERATOR = Principal(role="admin")
