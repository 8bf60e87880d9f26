"""Lots: stored origins, how they are read back, and how lots are found and listed."""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import origin as engine
from service.access import OPERATOR, Principal
from service.answer_memo import AnswerMemo
from service.errors import NotFound
from service.facilities import is_facility
from service.models import AuditHead, Event, Facility, Lot, Organization, Sku
from service.numbers import format_decimal, format_kg, format_kg_over, format_share
from service.organizations import is_organization
from service.pagination import decode_cursor, paginate
from service.schemas import ElementOrigin, LotRead, OriginRead, RouteShare, is_id
from service.schemas.lots import ValueRead
from service.skus import is_sku
from service.visibility import sees_everything, sees_lot


def encode_composition(composition: Mapping[str, Fraction]) -> dict[str, str]:
    return {element: str(kg) for element, kg in engine.clean_composition(composition).items()}


def decode_composition(stored: Mapping[str, str]) -> engine.Composition:
    return {element: Fraction(kg) for element, kg in stored.items()}


@dataclass(slots=True)
class LotRow:
    """A lot's stored fields, as events read, consume and write them: a plain row, not an ORM instance."""

    pk: int | None
    id: str
    code: str
    organization_pk: int
    facility_pk: int
    material: str
    quantity: Decimal
    unit: str
    remaining: Decimal
    composition: dict[str, str]
    origin: dict[str, list[list[str]]]
    element_resolved: bool
    sku_pk: int | None
    status: str
    occurred_at: datetime
    recorded_at: datetime
    value_amount: str | None
    value_currency: str | None
    epc_class: str | None
    # Not a column: composition, origin and mode as the engine reads them, once decoded or when just computed.
    state: engine.LotState | None = None


LOT_ROW_FIELDS = tuple(f.name for f in fields(LotRow) if f.name != "state")


def lot_row(lot: Lot) -> LotRow:
    return LotRow(*(getattr(lot, name) for name in LOT_ROW_FIELDS))


# A lot's value: its exact amount and currency.
Value = tuple[Fraction, str]


def encode_value(value: Value | None) -> tuple[str | None, str | None]:
    """The ``value_amount`` and ``value_currency`` columns of a lot worth ``value``."""
    return (None, None) if value is None else (str(value[0]), value[1])


def lot_value(lot: Lot | LotRow) -> Value | None:
    if lot.value_amount is None or lot.value_currency is None:
        return None
    return Fraction(lot.value_amount), lot.value_currency


def value_read(lot: Lot | LotRow) -> ValueRead | None:
    value = lot_value(lot)
    return None if value is None else ValueRead(amount=format_kg(value[0]), currency=value[1])


def lot_state(lot: Lot | LotRow) -> engine.LotState:
    if isinstance(lot, LotRow) and lot.state is not None:
        return lot.state
    state = engine.LotState(
        composition=decode_composition(lot.composition),
        origin=engine.decode_origin(lot.origin),
        element_resolved=lot.element_resolved,
    )
    if isinstance(lot, LotRow):
        lot.state = state
    return state


def _over_one_denominator(routes: Iterable[tuple[engine.Route, Fraction]]) -> tuple[dict[engine.Route, int], int]:
    """Kilograms summed per route as integer numerators over one denominator: the same numbers, cheaper sums."""
    pairs = list(routes)
    denominator = math.lcm(*(kg.denominator for _, kg in pairs))
    scaled: dict[engine.Route, int] = {}
    for route, kg in pairs:
        scaled[route] = scaled.get(route, 0) + kg.numerator * (denominator // kg.denominator)
    return scaled, denominator


def route_shares(routes: Mapping[engine.Route, Fraction]) -> list[RouteShare]:
    return _route_shares(*_over_one_denominator(routes.items()))


class _Shares(dict[int, str]):
    """``format_share(kg, whole)`` for one ``whole``, each distinct ``kg`` written once.

    A lot's five stages and its routes repeat a handful of values (the later stages are all
    ``none``, at 100 %), and writing a percent was most of the time of shaping a lot's answer.
    """

    def __init__(self, whole: int) -> None:
        super().__init__()
        self.whole = whole

    def __missing__(self, kg: int) -> str:
        text = self[kg] = format_share(kg, self.whole)
        return text


def _route_shares(
    routes: Mapping[engine.Route, int], denominator: int, shares: _Shares | None = None
) -> list[RouteShare]:
    percent = shares if shares is not None else _Shares(sum(routes.values()))
    return [
        RouteShare(
            route=dict(zip(engine.STAGES, route, strict=True)),
            kg=format_kg_over(kg, denominator),
            percent=percent[kg],
        )
        for route, kg in engine.sorted_routes(routes)
    ]


def stage_percents(routes: Mapping[engine.Route, Fraction]) -> dict[str, dict[str, str]]:
    return _stage_percents(_over_one_denominator(routes.items())[0])


def _stage_percents(routes: Mapping[engine.Route, int], shares: _Shares | None = None) -> dict[str, dict[str, str]]:
    percent = shares if shares is not None else _Shares(sum(routes.values()))
    if not percent.whole:
        return {stage: {} for stage in engine.STAGES}
    return {
        stage: {value: percent[kg] for value, kg in values.items() if kg}
        for stage, values in engine.stage_marginals(routes).items()
    }


def origin_read(lot: Lot | LotRow | engine.LotState, *, elements: bool = False) -> OriginRead:
    """A lot's origin as the API gives it (or that of a ``LotState`` pooled from several lots)."""
    return _origin_read(lot if isinstance(lot, engine.LotState) else lot_state(lot), elements=elements)


def _origin_read(state: engine.LotState, *, elements: bool) -> OriginRead:
    origin = state.origin
    routes, denominator = _over_one_denominator(
        (route, kg) for element_routes in origin.values() for route, kg in element_routes.items()
    )
    element_origins = None
    if elements:
        element_origins = {
            element: ElementOrigin(
                kg=format_kg(sum(origin[element].values(), Fraction(0))), routes=route_shares(origin[element])
            )
            for element in sorted(origin, key=engine.symbol_order)
        }
    shares = _Shares(sum(routes.values()))
    return OriginRead(
        total_kg=format_kg_over(shares.whole, denominator),
        element_resolved=state.element_resolved,
        stages=_stage_percents(routes, shares),
        routes=_route_shares(routes, denominator, shares),
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
        return lot_read(self.lot, self.organization, self.facility, self.sku, self.event, elements=elements)


def lot_read(
    lot: Lot | LotRow, organization: str, facility: str, sku: str | None, event: str, *, elements: bool = False
) -> LotRead:
    state = lot_state(lot)
    return LotRead(
        id=lot.id,
        code=lot.code,
        organization=organization,
        facility=facility,
        material=lot.material,
        quantity=format_decimal(lot.quantity),
        unit=lot.unit,
        remaining=format_decimal(lot.remaining),
        composition={element: format_kg(kg) for element, kg in state.composition.items()},
        sku=sku,
        event=event,
        status=lot.status,  # type: ignore[arg-type]
        occurred_at=lot.occurred_at,
        recorded_at=lot.recorded_at,
        origin=_origin_read(state, elements=elements),
        value=value_read(lot),
    )


# Built once (statements are immutable; each caller adds its own conditions): building it was a tenth of a page.
_LOT_VIEWS = (
    sa.select(Lot, col(Organization.code), col(Facility.code), col(Sku.sku), col(Event.id))
    .join(Organization, col(Lot.organization_pk) == Organization.pk)
    .join(Facility, col(Lot.facility_pk) == Facility.pk)
    .join(Event, col(Lot.event_pk) == Event.pk)
    .outerjoin(Sku, col(Lot.sku_pk) == Sku.pk)
)


def lot_views_query() -> Any:
    return _LOT_VIEWS


def lot_views(session: Session, query: Any) -> list[LotView]:
    return [LotView(*row) for row in session.execute(query)]


def visible_lots(actor: Principal) -> Any:
    """The SQL condition for the lots ``actor`` sees (``visibility.sees_lot``): lists filter before cutting a page."""
    return sa.true() if sees_everything(actor) else col(Lot.organization_pk) == actor.organization_pk


def get_lot_view(session: Session, lot_id: str, actor: Principal = OPERATOR) -> LotView:
    """The lot with this id; another organization's lot is not found, exactly like one that does not exist."""
    views = lot_views(session, lot_views_query().where(Lot.id == lot_id)) if is_id(lot_id) else []
    if not views or not sees_lot(actor, views[0].lot.organization_pk):
        raise NotFound(f"No lot has the id {lot_id!r}.")
    return views[0]


def views_by_pk(session: Session, pks: Sequence[int]) -> dict[int, LotView]:
    views = lot_views(session, lot_views_query().where(col(Lot.pk).in_(pks)))
    return {view.lot.pk or 0: view for view in views}


# A row that changes with anything a list of lots shows (``listing_changed``).
_LISTING_CHANGED = sa.select(
    sa.select(col(AuditHead.seq)).where(col(AuditHead.id) == 1).scalar_subquery(),
    sa.select(sa.func.max(col(Lot.pk))).scalar_subquery(),
    sa.select(sa.func.max(col(Event.pk))).scalar_subquery(),
)


def listing_changed() -> tuple[sa.Select[Any], dict[str, object]]:
    """The statement (and its parameters) whose row changes whenever a lot is recorded or what is left of one, or
    its status, changes: a page of lots is pinned to it (``api.remembered``).

    Every write through the API appends to the audit chain in its own transaction (the newest entry); a lot or
    an event recorded without the API (the demo loader) is a new row (the newest lot and event). A lot's origin,
    codes and composition never change once recorded.
    """
    return _LISTING_CHANGED, {}


def list_lots(
    session: Session,
    limit: int,
    cursor: str | None,
    *,
    actor: Principal = OPERATOR,
    organization: str | None = None,
    facility: str | None = None,
    sku: str | None = None,
    code: str | None = None,
    material: str | None = None,
    reads: AnswerMemo[bytes] | None = None,
) -> bytes:
    """The lots ``actor`` sees, filtered in SQL so counts and pages never include another organization's: the
    page as sent, a ``Page[LotRead]`` in JSON.

    ``reads`` remembers lots as written (``LotRead`` JSON), by their key and what may still change of them (what
    is left, the status): a lot's origin, composition and codes never change once recorded, and working them
    out and writing them again was most of a page's time (BENCHMARKS.md, "/v1/lots?limit=50").
    """
    after = decode_cursor(cursor, int)
    # The lot table alone, joined only to what a filter names: the plan is then a walk of the primary key,
    # whatever the statistics say (joined to everything, a freshly loaded PostgreSQL sorted every lot).
    query = (
        sa.select(col(Lot.pk), col(Lot.remaining), col(Lot.status))
        .where(visible_lots(actor))
        .order_by(col(Lot.pk))
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(col(Lot.pk) > after)
    if organization is not None:
        query = query.join(Organization, col(Lot.organization_pk) == Organization.pk).where(
            is_organization(organization)
        )
    if facility is not None:
        query = query.join(Facility, col(Lot.facility_pk) == Facility.pk).where(is_facility(facility))
    if sku is not None:
        query = query.join(Sku, col(Lot.sku_pk) == Sku.pk).where(is_sku(sku))
    if code is not None:
        query = query.where(sa.func.lower(col(Lot.code)) == code.lower())
    if material is not None:
        query = query.where(col(Lot.material) == material)
    # The page's keys and what may have changed of each lot first; whole rows only for lots not remembered as read.
    found, next_cursor = paginate(list(session.execute(query)), limit, lambda row: row[0])
    memo = reads if reads is not None else AnswerMemo[bytes](capacity=limit + 1)
    remembered = {tuple(row): memo.get(tuple(row)) for row in found}
    missing = [key[0] for key, read in remembered.items() if read is None]
    views = views_by_pk(session, missing) if missing else {}
    items = []
    for key, read in remembered.items():
        if read is None:
            read = views[key[0]].read().model_dump_json().encode()
            memo.put(key, read)
        items.append(read)
    return b'{"items":[%s],"next_cursor":%s}' % (b",".join(items), json.dumps(next_cursor).encode())
