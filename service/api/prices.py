"""Element prices: what a kilogram of each element contained is worth, per currency, from a date on."""

from datetime import date
from typing import Annotated

from fastapi import Query

from service import audit, prices
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router, write_problems
from service.api.deps import Admin, Reader, SessionDep, WriteContextDep
from service.pagination import DEFAULT_LIMIT
from service.schemas import Page
from service.schemas.prices import PriceCreate, PriceRead

router = v1_router("prices")


@router.post(
    "/prices",
    status_code=201,
    summary="Record a price",
    responses=write_problems("The element already has a price in this currency from this date."),
)
def record_price(body: PriceCreate, session: SessionDep, _actor: Admin, context: WriteContextDep) -> PriceRead:
    """Record an element's price per kg contained, in one currency, from a date until the next one. Admin only."""
    created = prices.create_price(session, body)
    audit.append(session, context, "price.recorded", f"{created.element}/{created.currency}/{created.valid_from}")
    return created


@router.get("/prices", summary="List prices", responses=problems(422))
def list_prices(
    session: SessionDep,
    _actor: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    element: Annotated[str | None, Query(description="Only this element's prices.", examples=["Dy"])] = None,
    currency: Annotated[
        str | None, Query(pattern="^[A-Z]{3}$", description="Only prices in this currency.", examples=["USD"])
    ] = None,
    on: Annotated[
        date | None,
        Query(
            description="Only the price in effect on this date for each element and currency.", examples=["2027-01-01"]
        ),
    ] = None,
) -> Page[PriceRead]:
    """List recorded prices in recording order; `on` keeps the one in effect that day for each element and currency."""
    if element is not None:
        prices.check_element(element, "element")
    return prices.list_prices(session, limit, cursor, element=element, currency=currency, on=on)
