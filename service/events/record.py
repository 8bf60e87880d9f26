"""Recording, voiding and reading events: lock inputs, consume, compute, store."""

import uuid
from decimal import Decimal
from fractions import Fraction

from sqlmodel import Session, col, select

from service.access import OPERATOR, Principal
from service.db import utcnow
from service.errors import Conflict, LodestoneError, NotFound
from service.events.checks import (
    check_conflicts,
    check_shape,
    check_stage_and_material,
    lock_lots,
    resolve_references,
)
from service.events.compute import compute_outputs
from service.facilities import facility_stages
from service.lots import LotView, encode_composition, encode_origin, views_by_pk
from service.models import Event, EventInput, Facility, Lot, Organization
from service.numbers import format_decimal
from service.schemas import EventCreate, EventRead, InputRead, is_id
from service.skus import touch_skus


def record_event(session: Session, body: EventCreate, tolerance: Fraction, actor: Principal = OPERATOR) -> EventRead:
    """Check, consume, compute each output's origin and store everything in the caller's transaction."""
    recorded, skus = _record(session, body, tolerance, actor)
    touch_skus(session, skus)
    return recorded


def _record(
    session: Session, body: EventCreate, tolerance: Fraction, actor: Principal
) -> tuple[EventRead, set[int | None]]:
    outputs = check_shape(body)
    facility, inputs = resolve_references(session, body, outputs)
    actor.require_own(facility.organization_pk, "record events at facilities")
    for item in inputs:
        actor.require_own(item.lot.organization_pk, "consume lots")
    stages = set(facility_stages(session, [facility.pk or 0]).get(facility.pk or 0, []))
    check_stage_and_material(body, facility, outputs, stages)
    check_conflicts(session, inputs, outputs)
    compute_outputs(body, facility.country, inputs, outputs, tolerance)

    now = utcnow()
    event = Event(
        id=str(uuid.uuid4()),
        type=body.type,
        facility_pk=facility.pk or 0,
        stage=body.stage,
        occurred_at=body.occurred_at,
        recorded_at=now,
        reference=body.reference,
        body=body.model_dump(mode="json", exclude_none=True),
    )
    session.add(event)
    session.flush()
    for item in inputs:
        session.add(
            EventInput(event_pk=event.pk or 0, position=item.index, lot_pk=item.lot.pk or 0, quantity=item.quantity)
        )
        item.lot.remaining = item.lot.remaining - item.quantity
        session.add(item.lot)
    is_production = body.type == "receipt" or body.stage == "manufacturing"
    made: list[Lot] = []
    for out in outputs:
        assert out.facility is not None
        assert out.quantity is not None
        assert out.composition is not None
        made.append(
            Lot(
                id=str(uuid.uuid4()),
                code=out.code,
                organization_pk=out.facility.organization_pk,
                facility_pk=out.facility.pk or 0,
                event_pk=event.pk or 0,
                position=out.index,
                material=out.material or "",
                quantity=out.quantity,
                unit=out.unit or "",
                remaining=out.quantity,
                composition=encode_composition(out.composition),
                origin=encode_origin(out.origin),
                element_resolved=out.element_resolved,
                is_production=is_production,
                sku_pk=out.sku.pk if out.sku is not None else None,
                occurred_at=body.occurred_at,
                recorded_at=now,
            )
        )
    session.add_all(made)
    session.flush()
    # The answer comes from what was just written, not from reading it back.
    codes = _organization_codes(
        session, {lot.organization_pk for lot in made} | {i.lot.organization_pk for i in inputs}
    )
    facilities = {out.facility.pk: out.facility.code for out in outputs if out.facility is not None}
    recorded = _shape(
        event,
        facility.code,
        [(item.lot, codes[item.lot.organization_pk], item.quantity) for item in inputs],
        [
            LotView(
                lot, codes[lot.organization_pk], facilities[lot.facility_pk], out.sku.sku if out.sku else None, event.id
            )
            for lot, out in zip(made, outputs, strict=True)
        ],
    )
    return recorded, {lot.sku_pk for lot in made}


def record_batch(
    session: Session, bodies: list[EventCreate], tolerance: Fraction, actor: Principal = OPERATOR
) -> list[EventRead]:
    """Record events in order in the caller's transaction; the first refusal names its index and refuses all."""
    recorded, skus = [], set()
    for index, body in enumerate(bodies):
        try:
            event, touched = _record(session, body, tolerance, actor)
        except LodestoneError as exc:
            raise exc.at(f"events.{index}") from None
        recorded.append(event)
        skus |= touched
    touch_skus(session, skus)
    return recorded


def _get_event_row(session: Session, event_id: str, *, for_update: bool = False) -> Event:
    query = select(Event).where(Event.id == event_id)
    if for_update:
        query = query.with_for_update()
    event = session.exec(query).first() if is_id(event_id) else None
    if event is None:
        raise NotFound(f"No event has the id {event_id!r}.")
    return event


def void_event(session: Session, event_id: str, actor: Principal = OPERATOR) -> EventRead:
    """Void an event whose outputs nobody consumed: outputs voided, inputs get their quantities back."""
    event = _get_event_row(session, event_id, for_update=True)
    actor.require_own(session.get_one(Facility, event.facility_pk).organization_pk, "void events at facilities")
    if event.status == "voided":
        raise Conflict("This event is already voided.")
    outputs = list(session.exec(select(Lot).where(Lot.event_pk == event.pk)))
    input_rows = list(session.exec(select(EventInput).where(EventInput.event_pk == event.pk)))
    lock_lots(session, sorted({lot.pk or 0 for lot in outputs} | {row.lot_pk for row in input_rows}))
    consumer = session.exec(
        select(Lot.code)
        .join(EventInput, col(EventInput.lot_pk) == Lot.pk)
        .join(Event, col(EventInput.event_pk) == Event.pk)
        .where(col(Lot.pk).in_([lot.pk for lot in outputs]), Event.status == "recorded")
    ).first()
    if consumer is not None:
        raise Conflict(f"Output lot {consumer} was consumed by a later event; void that event first.")
    now = utcnow()
    event.status, event.voided_at = "voided", now
    session.add(event)
    for lot in outputs:
        lot.status, lot.remaining = "voided", Decimal(0)
        session.add(lot)
    touch_skus(session, [lot.sku_pk for lot in outputs])
    for item in input_rows:
        lot = session.get_one(Lot, item.lot_pk)
        lot.remaining = lot.remaining + item.quantity
        session.add(lot)
    session.flush()
    return event_read(session, event)


def get_event(session: Session, event_id: str) -> EventRead:
    return event_read(session, _get_event_row(session, event_id))


def _organization_codes(session: Session, pks: set[int]) -> dict[int, str]:
    rows = session.exec(select(Organization.pk, Organization.code).where(col(Organization.pk).in_(pks)))
    return {pk: code for pk, code in rows if pk is not None}


def _shape(event: Event, facility: str, inputs: list[tuple[Lot, str, Decimal]], outputs: list[LotView]) -> EventRead:
    return EventRead(
        id=event.id,
        type=event.type,  # type: ignore[arg-type]
        facility=facility,
        stage=event.stage,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        reference=event.reference,
        status=event.status,  # type: ignore[arg-type]
        inputs=[
            InputRead(lot=lot.id, code=lot.code, organization=organization, quantity=format_decimal(quantity))
            for lot, organization, quantity in inputs
        ],
        outputs=[view.read() for view in outputs],
    )


def event_read(session: Session, event: Event) -> EventRead:
    """An event as recorded, read back from the database."""
    facility = session.get_one(Facility, event.facility_pk)
    input_rows = list(
        session.exec(select(EventInput).where(EventInput.event_pk == event.pk).order_by(col(EventInput.position)))
    )
    output_pks = list(session.exec(select(Lot.pk).where(Lot.event_pk == event.pk).order_by(col(Lot.position))))
    views = views_by_pk(session, [row.lot_pk for row in input_rows] + [pk for pk in output_pks if pk is not None])
    inputs = [(views[row.lot_pk].lot, views[row.lot_pk].organization, row.quantity) for row in input_rows]
    return _shape(event, facility.code, inputs, [views[pk] for pk in output_pks if pk is not None])
