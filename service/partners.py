"""Who may write into whose books (issue 12): a SKU's makers, and an organization's suppliers.

A production lot may name a SKU only when the recording organization owns the SKU or is one of its
makers; a transfer into another organization's facility needs that organization to list the sender
as a supplier. Each organization's manager keeps its own lists; the operator's admin keys may do
anything, and bypass both checks (the contract's worked examples run with them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service import audit
from service.access import READ_AUDIT, Principal
from service.audit import WriteContext
from service.db import utcnow
from service.errors import Conflict, Forbidden, NotFound
from service.models import Organization, Sku, SkuMaker, Supplier
from service.organizations import find_organization, referenced_organization
from service.schemas.partners import MakerRead, SupplierRead
from service.skus import find_sku, no_sku


def require_manager_of(actor: Principal, organization: Organization, what: str) -> None:
    """Only that organization's managers, or an admin."""
    if actor.role == "admin":
        return
    if actor.role != "manager" or actor.organization_pk != organization.pk:
        raise Forbidden(f"Only a manager of {organization.code} (or an admin) may {what}.")


def _require_reader_of(actor: Principal, organization: Organization, what: str) -> None:
    """That organization's own keys, admins and auditors."""
    if actor.role not in READ_AUDIT and actor.organization_pk != organization.pk:
        raise Forbidden(f"Only {organization.code}'s own keys, admins and auditors may read {what}.")


def _sku_and_owner(session: Session, code: str) -> tuple[Sku, Organization]:
    sku = find_sku(session, code)
    if sku is None:
        raise no_sku(code)
    return sku, session.get_one(Organization, sku.organization_pk)


def _organization(session: Session, code: str) -> Organization:
    org = find_organization(session, code)
    if org is None:
        raise NotFound(f"No organization has the code {code!r}.")
    return org


def list_makers(session: Session, code: str, actor: Principal) -> list[MakerRead]:
    sku, owner = _sku_and_owner(session, code)
    _require_reader_of(actor, owner, f"the makers of {sku.sku}")
    query = (
        select(SkuMaker, Organization.code)
        .join(Organization, col(SkuMaker.organization_pk) == Organization.pk)
        .where(SkuMaker.sku_pk == sku.pk)
        .order_by(col(Organization.code))
    )
    return [MakerRead(sku=sku.sku, organization=org, created_at=row.created_at) for row, org in session.exec(query)]


def _add(
    session: Session, row: SkuMaker | Supplier, exists: str, context: WriteContext, action: str, subject: str
) -> None:
    """Add a member to a list, audited; 409 if it is there already."""
    if session.get(type(row), row.key) is not None:
        raise Conflict(exists)
    session.add(row)
    session.flush()
    audit.append(session, context, action, subject[:64])


def _remove(
    session: Session, model: type[SkuMaker] | type[Supplier], key: tuple[int, int] | None, missing: str,
    context: WriteContext, action: str, subject: str,
) -> None:  # fmt: skip
    """Take a member off a list, audited; 404 if it is not on it (``key`` None: no such organization)."""
    row = session.get(model, key) if key is not None else None
    if row is None:
        raise NotFound(missing)
    session.delete(row)
    session.flush()
    audit.append(session, context, action, subject[:64])


def add_maker(session: Session, code: str, organization: str, actor: Principal, context: WriteContext) -> MakerRead:
    sku, owner = _sku_and_owner(session, code)
    require_manager_of(actor, owner, f"choose who makes {sku.sku}")
    maker = referenced_organization(session, organization)
    if maker.pk == owner.pk:
        raise Conflict(f"{owner.code} owns {sku.sku}: an owner makes its own SKUs without being listed.")
    row = SkuMaker(sku_pk=sku.pk or 0, organization_pk=maker.pk or 0, created_at=utcnow())
    _add(session, row, f"{maker.code} already makes {sku.sku}.", context, "sku.maker_added", f"{sku.sku}:{maker.code}")
    return MakerRead(sku=sku.sku, organization=maker.code, created_at=row.created_at)


def remove_maker(session: Session, code: str, organization: str, actor: Principal, context: WriteContext) -> None:
    sku, owner = _sku_and_owner(session, code)
    require_manager_of(actor, owner, f"choose who makes {sku.sku}")
    maker = find_organization(session, organization)
    key = (sku.pk or 0, maker.pk or 0) if maker is not None else None
    missing = f"{organization} is not a maker of {sku.sku}."
    _remove(session, SkuMaker, key, missing, context, "sku.maker_removed", f"{sku.sku}:{organization}")


def list_suppliers(session: Session, code: str, actor: Principal) -> list[SupplierRead]:
    org = _organization(session, code)
    _require_reader_of(actor, org, f"the suppliers of {org.code}")
    supplier = sa.orm.aliased(Organization)
    query = (
        select(Supplier, supplier.code)
        .join(supplier, col(Supplier.supplier_pk) == supplier.pk)
        .where(Supplier.organization_pk == org.pk)
        .order_by(supplier.code)
    )
    rows = session.exec(query)
    return [SupplierRead(organization=org.code, supplier=code, created_at=row.created_at) for row, code in rows]


def add_supplier(
    session: Session, code: str, organization: str, actor: Principal, context: WriteContext
) -> SupplierRead:
    org = _organization(session, code)
    require_manager_of(actor, org, f"choose {org.code}'s suppliers")
    supplier = referenced_organization(session, organization)
    if supplier.pk == org.pk:
        raise Conflict(f"{org.code} moves material between its own facilities without listing itself.")
    row = Supplier(organization_pk=org.pk or 0, supplier_pk=supplier.pk or 0, created_at=utcnow())
    exists = f"{supplier.code} already supplies {org.code}."
    _add(session, row, exists, context, "organization.supplier_added", f"{org.code}:{supplier.code}")
    return SupplierRead(organization=org.code, supplier=supplier.code, created_at=row.created_at)


def remove_supplier(session: Session, code: str, organization: str, actor: Principal, context: WriteContext) -> None:
    org = _organization(session, code)
    require_manager_of(actor, org, f"choose {org.code}'s suppliers")
    supplier = find_organization(session, organization)
    key = (org.pk or 0, supplier.pk or 0) if supplier is not None else None
    missing = f"{organization} is not a supplier of {org.code}."
    _remove(session, Supplier, key, missing, context, "organization.supplier_removed", f"{org.code}:{organization}")


def makers_of(session: Session, sku_pks: Sequence[int]) -> set[tuple[int, int]]:
    """``(sku, organization)`` pairs of the SKUs' makers."""
    if not sku_pks:
        return set()
    query = sa.select(col(SkuMaker.sku_pk), col(SkuMaker.organization_pk)).where(col(SkuMaker.sku_pk).in_(sku_pks))
    return {(sku, org) for sku, org in session.execute(query)}


def suppliers_of(session: Session, receivers: Sequence[int]) -> set[tuple[int, int]]:
    """``(receiver, supplier)`` pairs of the organizations' suppliers."""
    if not receivers:
        return set()
    query = sa.select(col(Supplier.organization_pk), col(Supplier.supplier_pk)).where(
        col(Supplier.organization_pk).in_(receivers)
    )
    return {(receiver, supplier) for receiver, supplier in session.execute(query)}
