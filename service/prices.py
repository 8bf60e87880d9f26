"""Element prices per kilogram contained, by currency and the date from which each is in effect."""

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service import origin as engine
from service.db import utcnow
from service.errors import Conflict, FieldError, invalid
from service.models import Price
from service.numbers import format_decimal
from service.pagination import decode_cursor, paginate
from service.schemas import Page
from service.schemas.prices import PriceCreate, PriceRead


def check_element(value: str, field: str) -> str:
    if value not in engine.ELEMENTS:
        raise invalid(field, "is not a rare-earth element symbol (REE is not one)")
    return value


def _read(price: Price) -> PriceRead:
    return PriceRead(
        element=price.element,
        currency=price.currency,
        price_per_kg=format_decimal(price.price_per_kg),
        valid_from=price.valid_from,
        source=price.source,
        created_at=price.created_at,
    )


def create_price(session: Session, body: PriceCreate) -> PriceRead:
    check_element(body.element, "element")
    if body.price_per_kg <= 0:
        raise invalid("price_per_kg", "must be positive")
    taken = session.exec(
        select(Price.pk).where(
            Price.element == body.element, Price.currency == body.currency, Price.valid_from == body.valid_from
        )
    ).first()
    if taken is not None:
        message = f"{body.element} already has a {body.currency} price from {body.valid_from.isoformat()}"
        raise Conflict(f"valid_from: {message}.", [FieldError("valid_from", message)])
    price = Price(
        element=body.element,
        currency=body.currency,
        price_per_kg=body.price_per_kg,
        valid_from=body.valid_from,
        source=body.source,
        created_at=utcnow(),
    )
    session.add(price)
    session.flush()
    return _read(price)


def list_prices(
    session: Session,
    limit: int,
    cursor: str | None,
    *,
    element: str | None = None,
    currency: str | None = None,
    on: date | None = None,
) -> Page[PriceRead]:
    """Prices in recording order; with ``on``, only the one in effect then for each element and currency."""
    after = decode_cursor(cursor, int)
    query = select(Price).order_by(col(Price.pk)).limit(limit + 1)
    if after is not None:
        query = query.where(col(Price.pk) > after)
    if element is not None:
        query = query.where(Price.element == element)
    if currency is not None:
        query = query.where(Price.currency == currency)
    if on is not None:
        latest = (
            select(Price.element, Price.currency, sa.func.max(Price.valid_from).label("valid_from"))
            .where(col(Price.valid_from) <= on)
            .group_by(col(Price.element), col(Price.currency))
            .subquery()
        )
        query = query.join(
            latest,
            sa.and_(
                col(Price.element) == latest.c.element,
                col(Price.currency) == latest.c.currency,
                col(Price.valid_from) == latest.c.valid_from,
            ),
        )
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda price: price.pk or 0)
    return Page(items=[_read(price) for price in rows], next_cursor=next_cursor)
