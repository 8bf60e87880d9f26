"""Recording, voiding and reading events: lock inputs, consume, compute, store."""

import gc
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

from sqlmodel import Session, col, select

from service import metrics, partners
from service import origin as engine
from service.access import OPERATOR, WRITE_OWN, Principal
from service.db import utcnow
from service.errors import Conflict, Forbidden, LodestoneError, NotFound
from service.events.checks import (
    PlannedOutput,
    check_conflicts,
    check_shape,
    check_stage_and_material,
    lock_lots,
    resolve_references,
)
from service.events.compute import compute_outputs
from service.events.lookups import Lookups
from service.events.writes import Made, Writes
from service.lots import LotRow, LotView, encode_composition, encode_value, lot_read, views_by_pk
from service.models import Event, EventInput, Facility, Lot
from service.numbers import format_decimal
from service.schemas import EventCreate, EventRead, InputRead, is_id
from service.schemas.events import RedactedInput, RedactedLot
from service.skus import touch_skus
from service.visibility import sees_event, sees_holder

Locate = Callable[[int, LodestoneError], LodestoneError]


def record_event(session: Session, body: EventCreate, tolerance: Fraction, actor: Principal = OPERATOR) -> EventRead:
    """Check, consume, compute each output's origin and store everything in the caller's transaction."""
    return _record_all(session, [body], tolerance, actor, locate=None)[0]


def _in_batch(index: int, exc: LodestoneError) -> LodestoneError:
    return exc.at(f"events.{index}")


def record_batch(
    session: Session,
    bodies: list[EventCreate],
    tolerance: Fraction,
    actor: Principal = OPERATOR,
    locate: Locate = _in_batch,
    epc_classes: Sequence[Sequence[str]] = (),
) -> list[EventRead]:
    """Record events in order in the caller's transaction; the first refusal, ``locate``d, refuses them all.

    ``locate`` names where in the request the refused event was (``events.3`` of a batch by default;
    an EPCIS capture names the place in its document). ``epc_classes``, per event and output, are the
    EPCIS classes captured lots are kept under.
    """
    with collector_paused():
        return _record_all(session, bodies, tolerance, actor, locate=locate, epc_classes=epc_classes)


_pause_lock = threading.Lock()
_pausing = 0  # batches running with the collector paused
_resume = False  # whether the collector ran before the first of them paused it


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a batch is checked, computed and written.

    A batch makes hundreds of thousands of objects that all live until it ends (plans, rows,
    answers), and the collector kept sweeping the whole heap for cycles among them: about 40 %
    of a batch's CPU (BENCHMARKS.md, "Ingest", bulk lots/s). Its objects are freed by reference
    counting when it ends; the collector is process-wide, so it resumes only when the last batch
    running in the process ends, and only if it ran before.
    """
    global _pausing, _resume
    with _pause_lock:
        if _pausing == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _resume:
                gc.enable()


def _record_all(
    session: Session,
    bodies: list[EventCreate],
    tolerance: Fraction,
    actor: Principal,
    *,
    locate: Locate | None,
    epc_classes: Sequence[Sequence[str]] = (),
) -> list[EventRead]:
    """Check and compute every event in order against what the events before it made, then write them all.

    Nothing is written until every event has passed, so a refusal leaves nothing to undo; the
    answers are shaped as each event is recorded (an output consumed by a later event of the
    batch is answered with its quantity still remaining, as if the events came one by one).
    """
    lookups = Lookups(session, bodies)
    writes = Writes()
    recorded = []
    for index, body in enumerate(bodies):
        try:
            classes = epc_classes[index] if index < len(epc_classes) else ()
            recorded.append(_record(lookups, writes, body, tolerance, actor, classes))
        except LodestoneError as exc:
            if locate is None:
                raise
            raise locate(index, exc) from None
    writes.store(session)
    touch_skus(session, {made.lot.sku_pk for made in writes.lots})
    metrics.count_recorded(session, len(writes.events), len(writes.lots))
    return recorded


def _check_partners(lookups: Lookups, facility: Facility, outputs: list[PlannedOutput], is_production: bool) -> None:
    """A production lot names only a SKU its organization owns or makes; a transfer goes only to who accepts it."""
    recorder = facility.organization_pk
    named = [
        out.sku for out in outputs if is_production and out.sku is not None and out.sku.organization_pk != recorder
    ]
    if named:
        makers = partners.makers_of(lookups.session, sorted({sku.pk or 0 for sku in named}))
        for sku in named:
            if (sku.pk, recorder) not in makers:
                raise Forbidden(
                    f"SKU {sku.sku} is another organization's, and its owner does not list yours among its makers."
                )
    receivers = {out.facility.organization_pk for out in outputs if out.facility is not None} - {recorder}
    if receivers:
        accepted = partners.suppliers_of(lookups.session, sorted(receivers))
        if any((receiver, recorder) not in accepted for receiver in receivers):
            raise Forbidden("The receiving organization does not list yours among its suppliers.")


def _record(
    lookups: Lookups,
    writes: Writes,
    body: EventCreate,
    tolerance: Fraction,
    actor: Principal,
    epc_classes: Sequence[str] = (),
) -> EventRead:
    outputs = check_shape(body)
    # Authorization first: a write at another organization's facility learns nothing of its lots.
    facility, inputs = resolve_references(lookups, body, outputs, actor)
    if actor.role != "admin":
        _check_partners(lookups, facility, outputs, engine.makes_production_lots(body.type, body.stage))
    check_stage_and_material(body, facility, outputs, lookups.stages.get(facility.pk or 0, set()))
    check_conflicts(lookups, inputs, outputs)
    compute_outputs(body, facility.country, inputs, outputs, tolerance)

    now = utcnow()
    event_id = str(uuid.uuid4())
    position = len(writes.events)
    writes.events.append(
        {
            "id": event_id,
            "type": body.type,
            "facility_pk": facility.pk,
            "stage": body.stage,
            "occurred_at": body.occurred_at,
            "recorded_at": now,
            "reference": body.reference,
            "status": "recorded",
            "voided_at": None,
            "body": body.model_dump(mode="json", exclude_none=True),
        }
    )
    codes = lookups.organization_codes
    read_inputs = []
    for item in inputs:
        lot = item.lot
        writes.inputs.append((position, item.index, lot, item.quantity))
        lot.remaining = lot.remaining - item.quantity
        if lot.pk is not None:
            writes.consumed[lot.pk] = lot
        read_inputs.append(
            InputRead(
                lot=lot.id,
                code=lot.code,
                organization=codes[lot.organization_pk],
                quantity=format_decimal(item.quantity),
            )
        )
    is_production = engine.makes_production_lots(body.type, body.stage)
    read_outputs = []
    for out in outputs:
        assert out.facility is not None
        assert out.quantity is not None
        assert out.composition is not None
        stored = engine.stored_origin(out.origin)
        value_amount, value_currency = encode_value(out.value)
        lot = LotRow(
            pk=None,
            id=str(uuid.uuid4()),
            code=out.code,
            organization_pk=out.facility.organization_pk,
            facility_pk=out.facility.pk or 0,
            material=out.material or "",
            quantity=out.quantity,
            unit=out.unit or "",
            remaining=out.quantity,
            composition=encode_composition(out.composition),
            origin=engine.encode_stored_origin(stored),
            element_resolved=out.element_resolved,
            sku_pk=out.sku.pk if out.sku is not None else None,
            status="active",
            occurred_at=body.occurred_at,
            recorded_at=now,
            value_amount=value_amount,
            value_currency=value_currency,
            epc_class=epc_classes[out.index] if out.index < len(epc_classes) else None,
            # As a later event of the batch, or the answer, would read it back.
            state=engine.LotState(engine.clean_composition(out.composition), stored, out.element_resolved),
        )
        lookups.made(lot)
        writes.lots.append(Made(lot, position, out.index, is_production))
        # The answer comes from what is being written, not from reading it back.
        sku = out.sku.sku if out.sku is not None else None
        read_outputs.append(lot_read(lot, codes[lot.organization_pk], out.facility.code, sku, event_id))
    return EventRead(
        id=event_id,
        type=body.type,
        facility=facility.code,
        stage=body.stage,
        occurred_at=body.occurred_at,
        recorded_at=now,
        reference=body.reference,
        status="recorded",
        inputs=read_inputs,
        outputs=read_outputs,
    )


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
    outputs = list(session.exec(select(Lot).where(Lot.event_pk == event.pk)))
    # The sender voids its events; a receiver may refuse a delivery to it (while nobody has consumed it).
    refused = (
        event.type == "transfer"
        and actor.role in WRITE_OWN
        and bool(outputs)
        and all(lot.organization_pk == actor.organization_pk for lot in outputs)
    )
    if not refused:
        actor.require_own(session.get_one(Facility, event.facility_pk).organization_pk, "void events at facilities")
    if event.status == "voided":
        raise Conflict("This event is already voided.")
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


def get_event(session: Session, event_id: str, actor: Principal = OPERATOR) -> EventRead:
    """The event as ``actor`` may see it; an event it may not see is not found, like one that does not exist."""
    event = _get_event_row(session, event_id)
    facility_holder = session.get_one(Facility, event.facility_pk).organization_pk
    delivered_to = set(session.exec(select(Lot.organization_pk).where(Lot.event_pk == event.pk)))
    if not sees_event(actor, facility_holder, delivered_to):
        raise NotFound(f"No event has the id {event_id!r}.")
    return shown_to(actor, event_read(session, event))


def shown_to(actor: Principal, read: EventRead) -> EventRead:
    """An event the caller sees, with other organizations' lots redacted (issue 12).

    On a transfer delivered to the caller, the inputs are the sender's lots: only their organization
    and quantity are shown. On a transfer the caller sent, the lots it made for the receiver show
    organization, material and quantity. Redacted lots move out of ``inputs`` and ``outputs`` into
    ``inputs_redacted`` and ``outputs_redacted``, so every item of ``inputs`` and ``outputs`` keeps its id.
    """
    hidden_inputs = [item for item in read.inputs if not sees_holder(actor, item.organization)]
    hidden_outputs = [lot for lot in read.outputs if not sees_holder(actor, lot.organization)]
    if not hidden_inputs and not hidden_outputs:
        return read
    return read.model_copy(
        update={
            "inputs": [item for item in read.inputs if sees_holder(actor, item.organization)],
            "outputs": [lot for lot in read.outputs if sees_holder(actor, lot.organization)],
            "inputs_redacted": [
                RedactedInput(organization=item.organization, quantity=item.quantity) for item in hidden_inputs
            ]
            or None,
            "outputs_redacted": [
                RedactedLot(organization=lot.organization, material=lot.material, quantity=lot.quantity, unit=lot.unit)
                for lot in hidden_outputs
            ]
            or None,
        }
    )


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
