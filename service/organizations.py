"""Organizations: the companies that hold facilities, lots and SKUs."""

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.db import utcnow
from service.errors import Conflict, NotFound, invalid
from service.models import Organization
from service.pagination import decode_cursor, paginate
from service.schemas import OrganizationCreate, OrganizationRead, Page, is_code


def to_read(org: Organization) -> OrganizationRead:
    return OrganizationRead(code=org.code, name=org.name, country=org.country, gln=org.gln, created_at=org.created_at)


def is_organization(code: str) -> sa.ColumnElement[bool]:
    """The organization with this code, in any case (through the index on ``lower(code)``)."""
    return sa.func.lower(col(Organization.code)) == code.lower()


def find_organization(session: Session, code: str) -> Organization | None:
    if not is_code(code):
        return None
    return session.exec(select(Organization).where(is_organization(code))).first()


def get_organization(session: Session, code: str) -> Organization:
    org = find_organization(session, code)
    if org is None:
        raise NotFound(f"No organization has the code {code!r}.")
    return org


def referenced_organization(session: Session, code: str, field: str = "organization") -> Organization:
    """An organization named in a request body: unknown is 422, not 404."""
    org = find_organization(session, code)
    if org is None:
        raise invalid(field, f"no organization has the code {code!r}")
    return org


def create_organization(session: Session, body: OrganizationCreate) -> OrganizationRead:
    if find_organization(session, body.code) is not None:
        raise Conflict(f"An organization with the code {body.code!r} already exists (codes ignore case).")
    if body.gln is not None and session.exec(select(Organization).where(Organization.gln == body.gln)).first():
        raise Conflict(f"Another organization already has the GLN {body.gln}.")
    org = Organization(code=body.code, name=body.name, country=body.country, gln=body.gln, created_at=utcnow())
    session.add(org)
    session.flush()
    return to_read(org)


def list_organizations(session: Session, limit: int, cursor: str | None) -> Page[OrganizationRead]:
    after = decode_cursor(cursor, str)
    query = select(Organization).order_by(Organization.code).limit(limit + 1)  # type: ignore[arg-type]
    if after is not None:
        query = query.where(Organization.code > after)
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda o: o.code)
    return Page(items=[to_read(o) for o in rows], next_cursor=next_cursor)
