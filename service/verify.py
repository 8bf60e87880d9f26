"""``lodestone verify``: recompute every lot from its event and inputs, and recount every remaining quantity.

Each lot is checked against the stored state of its own inputs, so a clean run
proves the whole graph consistent by induction, without trusting any answer.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, func, select

from service.errors import LodestoneError
from service.events.checks import PlannedInput, check_shape, fill_transfer
from service.events.compute import compute_outputs
from service.lots import encode_composition, encode_value, lot_row
from service.models import Event, EventInput, Facility, Lot, Sku
from service.numbers import format_decimal
from service.origin import encode_origin
from service.schemas import EventCreate


@dataclass(frozen=True)
class Mismatch:
    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


@dataclass(frozen=True)
class Report:
    events: int
    lots: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _check_event(session: Session, event: Event) -> Iterator[Mismatch]:
    subject = f"event {event.id}"
    lots = list(session.exec(select(Lot).where(Lot.event_pk == event.pk).order_by(col(Lot.position))))
    expected_status = "voided" if event.status == "voided" else "active"
    for lot in lots:
        if lot.status != expected_status:
            yield Mismatch(f"lot {lot.id}", f"status {lot.status} but its event is {event.status}")
    if event.body is None:
        yield Mismatch(subject, "no stored request: its lots cannot be recomputed")
        return
    try:
        body = EventCreate.model_validate(event.body)
        outputs = check_shape(body)
    except (ValueError, LodestoneError) as exc:
        yield Mismatch(subject, f"stored request no longer validates: {exc}")
        return
    rows = list(
        session.exec(select(EventInput).where(EventInput.event_pk == event.pk).order_by(col(EventInput.position)))
    )
    inputs = [
        PlannedInput(index=row.position, quantity=row.quantity, lot=lot_row(session.get_one(Lot, row.lot_pk)))
        for row in rows
    ]
    try:
        if body.type == "transfer":
            source = inputs[0].lot
            fill_transfer(outputs[0], inputs[0], session.get(Sku, source.sku_pk) if source.sku_pk is not None else None)
        compute_outputs(body, session.get_one(Facility, event.facility_pk).country, inputs, outputs, tolerance=None)
    except (LodestoneError, ArithmeticError, KeyError, IndexError) as exc:
        yield Mismatch(subject, f"its lots cannot be recomputed from its inputs: {exc!r}")
        return
    if len(outputs) != len(lots):
        yield Mismatch(subject, f"made {len(lots)} lots, its request names {len(outputs)}")
        return
    for planned, lot in zip(outputs, lots, strict=True):
        assert planned.composition is not None
        if encode_composition(planned.composition) != lot.composition:
            yield Mismatch(f"lot {lot.id}", "stored composition differs from the one recomputed")
        if encode_origin(planned.origin) != lot.origin:
            yield Mismatch(f"lot {lot.id}", "stored origin differs from the one recomputed")
        if planned.element_resolved != lot.element_resolved:
            yield Mismatch(f"lot {lot.id}", "stored mode (element-resolved or pooled) differs")
        if encode_value(planned.value) != (lot.value_amount, lot.value_currency):
            yield Mismatch(f"lot {lot.id}", "stored value differs from the one given or inherited")


def _check_remaining(session: Session) -> Iterator[Mismatch]:
    consumed: dict[int, Decimal] = defaultdict(Decimal)
    rows = session.exec(
        select(col(EventInput.lot_pk), col(EventInput.quantity))
        .join(Event, col(EventInput.event_pk) == Event.pk)
        .where(Event.status == "recorded")
    )
    for lot_pk, quantity in rows:
        consumed[lot_pk] += quantity
    for lot in session.exec(select(Lot).order_by(col(Lot.pk))):
        expected = Decimal(0) if lot.status == "voided" else lot.quantity - consumed[lot.pk or 0]
        if lot.remaining != expected:
            yield Mismatch(
                f"lot {lot.id}",
                f"remaining {format_decimal(lot.remaining)}, "
                f"but quantity minus consumption is {format_decimal(expected)}",
            )
        if expected < 0:
            yield Mismatch(
                f"lot {lot.id}",
                f"consumed {format_decimal(consumed[lot.pk or 0])}, "
                f"more than its quantity {format_decimal(lot.quantity)}",
            )


def verify(session: Session) -> Report:
    mismatches: list[Mismatch] = []
    events = 0
    for event in session.exec(select(Event).order_by(col(Event.pk))):
        events += 1
        mismatches.extend(_check_event(session, event))
    mismatches.extend(_check_remaining(session))
    lots = session.exec(select(func.count()).select_from(Lot)).one()
    return Report(events=events, lots=lots, mismatches=mismatches)
