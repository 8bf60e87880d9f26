"""Lots: stored origins, how they are read back, and how lots are found and listed."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import origin as engine
from service.errors import NotFound
from service.models import Event, Facility, Lot, Organization, Sku
from service.numbers import format_decimal, format_kg, format_percent
from service.pagination import decode_cursor, paginate
from service.schemas import ElementOrigin, LotRead, OriginRead, Page, RouteShare, is_id


def encode_composition(composition: Mapping[str, Fraction]) -> dict[str, str]:
    return {element: str(kg) for element, kg in engine.clean_composition(composition).items()}


def decode_composition(stored: Mapping[str, str]) -> engine.Composition:
    return {element: Fraction(kg) for element, kg in stored.items()}


def encode_origin(origin: engine.Origin) -> dict[str, list[list[str]]]:
    return {
        element: [[*route, str(kg)] for route, kg in engine.sorted_routes(origin[element])]
        for element in sorted(origin, key=engine.symbol_order)
    }


def decode_origin(stored: Mapping[str, Sequence[Sequence[str]]]) -> engine.Origin:
    return {element: {tuple(row[:-1]): Fraction(row[-1]) for row in rows} for element, rows in stored.items()}


def lot_state(lot: Lot) -> engine.LotState:
    return engine.LotState(
        composition=decode_composition(lot.composition),
        origin=decode_origin(lot.origin),
        element_resolved=lot.element_resolved,
    )


def route_shares(routes: Mapping[engine.Route, Fraction]) -> list[RouteShare]:
    whole = sum(routes.values(), Fraction(0))
    return [
        RouteShare(
            route=dict(zip(engine.STAGES, route, strict=True)),
            kg=format_kg(kg),
            percent=format_percent(100 * kg / whole),
        )
        for route, kg in engine.sorted_routes(routes)
    ]


def stage_percents(routes: Mapping[engine.Route, Fraction]) -> dict[str, dict[str, str]]:
    whole = sum(routes.values(), Fraction(0))
    if not whole:
        return {stage: {} for stage in engine.STAGES}
    return {
        stage: {value: format_percent(100 * kg / whole) for value, kg in values.items() if kg}
        for stage, values in engine.stage_marginals(routes).items()
    }


def origin_read(lot: Lot, *, elements: bool = False) -> OriginRead:
    origin = decode_origin(lot.origin)
    routes = engine.route_totals(origin)
    element_origins = None
    if elements:
        element_origins = {
            element: ElementOrigin(
                kg=format_kg(sum(origin[element].values(), Fraction(0))), routes=route_shares(origin[element])
            )
            for element in sorted(origin, key=engine.symbol_order)
        }
    return OriginRead(
        total_kg=format_kg(sum(routes.values(), Fraction(0))),
        element_resolved=lot.element_resolved,
        stages=stage_percents(routes),
        routes=route_shares(routes),
        elements=element_origins,
    )


@dataclass(frozen=True)
class LotView:
    """A lot with the codes it is shown with."""

    lot: Lot
    organization: str
    facility: str
    sku: str | None
    event: str

    def read(self, *, elements: bool = False) -> LotRead:
        lot = self.lot
        return LotRead(
            id=lot.id,
            code=lot.code,
            organization=self.organization,
            facility=self.facility,
            material=lot.material,
            quantity=format_decimal(lot.quantity),
            unit=lot.unit,
            remaining=format_decimal(lot.remaining),
            composition={element: format_kg(Fraction(kg)) for element, kg in lot.composition.items()},
            sku=self.sku,
            event=self.event,
            status=lot.status,  # type: ignore[arg-type]
            occurred_at=lot.occurred_at,
            recorded_at=lot.recorded_at,
            origin=origin_read(lot, elements=elements),
        )


def lot_views_query() -> Any:
    return (
        sa.select(Lot, col(Organization.code), col(Facility.code), col(Sku.sku), col(Event.id))
        .join(Organization, col(Lot.organization_pk) == Organization.pk)
        .join(Facility, col(Lot.facility_pk) == Facility.pk)
        .join(Event, col(Lot.event_pk) == Event.pk)
        .outerjoin(Sku, col(Lot.sku_pk) == Sku.pk)
    )


def lot_views(session: Session, query: Any) -> list[LotView]:
    return [LotView(*row) for row in session.execute(query)]


def get_lot_view(session: Session, lot_id: str) -> LotView:
    views = lot_views(session, lot_views_query().where(Lot.id == lot_id)) if is_id(lot_id) else []
    if not views:
        raise NotFound(f"No lot has the id {lot_id!r}.")
    return views[0]


def views_by_pk(session: Session, pks: Sequence[int]) -> dict[int, LotView]:
    views = lot_views(session, lot_views_query().where(col(Lot.pk).in_(pks)))
    return {view.lot.pk or 0: view for view in views}


def list_lots(
    session: Session,
    limit: int,
    cursor: str | None,
    *,
    organization: str | None = None,
    facility: str | None = None,
    sku: str | None = None,
    code: str | None = None,
    material: str | None = None,
) -> Page[LotRead]:
    after = decode_cursor(cursor, int)
    query = lot_views_query().order_by(col(Lot.pk)).limit(limit + 1)
    if after is not None:
        query = query.where(col(Lot.pk) > after)
    if organization is not None:
        query = query.where(Organization.code == organization)
    if facility is not None:
        query = query.where(Facility.code == facility)
    if sku is not None:
        query = query.where(Sku.sku == sku)
    if code is not None:
        query = query.where(Lot.code == code)
    if material is not None:
        query = query.where(Lot.material == material)
    views, next_cursor = paginate(lot_views(session, query), limit, lambda v: v.lot.pk or 0)
    return Page(items=[view.read() for view in views], next_cursor=next_cursor)
