"""SKUs: the products and components whose rare earths buyers ask about."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from service import knowledge
from service.access import OPERATOR, Principal
from service.db import utcnow
from service.errors import Conflict, NotFound
from service.models import Organization, Sku
from service.organizations import referenced_organization
from service.pagination import decode_cursor, paginate
from service.schemas import Page, SkuCreate, SkuRead, is_code


def _read(sku: Sku, org: Organization) -> SkuRead:
    return SkuRead(sku=sku.sku, name=sku.name, organization=org.code, gtin=sku.gtin, created_at=sku.created_at)


def is_sku(code: str) -> sa.ColumnElement[bool]:
    """The SKU with this code, in any case (through the index on ``lower(sku)``)."""
    return sa.func.lower(col(Sku.sku)) == code.lower()


# The SKU called ``:sku`` in any case, through the index on ``lower(sku)``: for statements built once.
SKU_CALLED = sa.func.lower(col(Sku.sku)) == sa.func.lower(sa.bindparam("sku", type_=sa.String()))


def find_sku(session: Session, code: str) -> Sku | None:
    if not is_code(code):
        return None
    return session.exec(select(Sku).where(is_sku(code))).first()


# Every SKU answer starts here: built once, two columns, no ORM row.
_PK_AND_REVISION = sa.select(col(Sku.pk), col(Sku.revision)).where(SKU_CALLED)
_PK_AND_REVISION_AS_OF = _PK_AND_REVISION.where(col(Sku.created_at) <= knowledge.as_of_param())


def sku_revision(session: Session, code: str, as_of: datetime | None = None) -> tuple[int, str]:
    """The SKU's key and its current revision (see ``touch_skus``); a SKU registered after ``as_of`` is not found."""
    query, params = revision_query(code, as_of)
    found = session.connection().execute(query, params).first() if is_code(code) else None
    if found is None:
        raise no_sku(code, as_of)
    pk, revision = found
    assert pk is not None  # a stored row has its key
    return pk, revision


def revision_query(code: str, as_of: datetime | None = None) -> tuple[Any, dict[str, object]]:
    """The statement (and its parameters) whose row is the SKU's key and revision: what its answer is pinned to."""
    return (_PK_AND_REVISION if as_of is None else _PK_AND_REVISION_AS_OF), {"sku": code, "as_of": as_of}


def no_sku(code: str, as_of: datetime | None = None) -> NotFound:
    return knowledge.not_known(f"SKU is called {code!r}", as_of)


def get_sku(session: Session, code: str) -> SkuRead:
    query = select(Sku, Organization).join(Organization).where(is_sku(code))
    row = session.exec(query).first() if is_code(code) else None
    if row is None:
        raise no_sku(code)
    return _read(*row)


def create_sku(session: Session, body: SkuCreate, actor: Principal = OPERATOR) -> SkuRead:
    org = referenced_organization(session, body.organization)
    actor.require_own(org.pk or 0, "register SKUs")
    if find_sku(session, body.sku) is not None:
        raise Conflict(f"A SKU called {body.sku!r} already exists (codes ignore case).")
    if body.gtin is not None and session.exec(select(Sku.pk).where(Sku.gtin == body.gtin)).first() is not None:
        raise Conflict(f"The GTIN {body.gtin} already belongs to another SKU: a GTIN names one SKU.")
    sku = Sku(sku=body.sku, name=body.name, organization_pk=org.pk or 0, gtin=body.gtin, created_at=utcnow())
    session.add(sku)
    session.flush()
    return _read(sku, org)


def list_skus(session: Session, limit: int, cursor: str | None) -> Page[SkuRead]:
    after = decode_cursor(cursor, str)
    query = select(Sku, Organization).join(Organization).order_by(col(Sku.sku)).limit(limit + 1)
    if after is not None:
        query = query.where(Sku.sku > after)
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda row: row[0].sku)
    return Page(items=[_read(*row) for row in rows], next_cursor=next_cursor)


def touch_skus(session: Session, pks: Iterable[int | None]) -> None:
    """Give each SKU a new revision: its lots changed, so answers remembered for it are stale.

    In pk order, once per transaction, after every lot lock: concurrent writers queue on
    the same rows in the same order and cannot deadlock here.
    """
    revisions = [{"sku_pk": pk, "revision": uuid.uuid4().hex} for pk in sorted({pk for pk in pks if pk is not None})]
    if revisions:
        sku = SQLModel.metadata.tables["sku"]
        session.execute(sa.update(sku).where(sku.c.pk == sa.bindparam("sku_pk")), revisions)
