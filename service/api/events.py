"""Events: extraction, receipt, processing and transfer, and voiding them."""

from fractions import Fraction
from typing import Annotated

from fastapi import Body, Path

from service import audit, events
from service.api.common import problems, v1_router, write_problems
from service.api.deps import MaterialReader, SessionDep, SettingsDep, WriteContextDep, Writer
from service.events.record import shown_to
from service.schemas import EVENT_EXAMPLE, EventBatchCreate, EventBatchRead, EventCreate, EventRead

router = v1_router("events")
EventId = Annotated[
    str, Path(description="The event's id (a UUID).", examples=["6f1c2b1e-8d1a-4c55-9a57-2f0f4f1d2a11"])
]

EVENT_EXAMPLES = {
    "processing": {"summary": "Refine concentrate into NdPr oxide", "value": EVENT_EXAMPLE},
    "extraction": {
        "summary": "Concentrate dug up at a mine",
        "value": {
            "type": "extraction", "facility": "MTW", "occurred_at": "2025-06-01T00:00:00Z",
            "outputs": [{"code": "MTW-C1", "material": "concentrate", "quantity": "10000", "unit": "kg",
                         "composition": {"Nd": "900", "Pr": "300", "La": "1500", "Ce": "2500"}}],
        },
    },
    "receipt": {
        "summary": "Magnets bought in with a partial declaration",
        "value": {
            "type": "receipt", "facility": "ACME-TX", "occurred_at": "2025-06-01T00:00:00Z",
            "outputs": [{"code": "MAG-IN-7", "material": "magnet", "quantity": "100", "unit": "pcs",
                         "composition": {"Nd": "20", "Dy": "1"},
                         "declared_origin": [{"route": {"mining": "AU", "refining": "MY"}, "percent": "60"}]}],
        },
    },
    "transfer": {
        "summary": "Ship a lot to another facility",
        "value": {
            "type": "transfer", "facility": "MTW", "occurred_at": "2025-06-02T00:00:00Z",
            "inputs": [{"lot_code": "MTW-C1", "organization": "LYNAS", "quantity": "10000"}],
            "outputs": [{"code": "KU-IN-1", "facility": "KUANTAN"}],
        },
    },
}  # fmt: skip


@router.post(
    "/events",
    status_code=201,
    summary="Record an event",
    responses=write_problems(
        "A lot code already used in the receiving organization, a voided input, or more consumed than remains."
    ),
)
def record_event(
    body: Annotated[EventCreate, Body(openapi_examples=EVENT_EXAMPLES)],
    session: SessionDep,
    settings: SettingsDep,
    actor: Writer,
    context: WriteContextDep,
) -> EventRead:
    """Record what happened to material (dug up, received, processed, shipped); answers with the new lots and origin.

    Lots a transfer delivers to another organization are that organization's: the answer shows them in
    `outputs_redacted` (organization, material, quantity), without id or code.
    """
    recorded = events.record_event(session, body, Fraction(settings.mass_balance_tolerance), actor)
    audit.append(session, context, "event.recorded", recorded.id)
    return shown_to(actor, recorded)


@router.post(
    "/events/batch",
    status_code=201,
    summary="Record events in bulk",
    responses=write_problems(
        "As for one event; `detail` and each error's `field` start with `events.N`, the first event refused."
    ),
)
def record_batch(
    body: EventBatchCreate, session: SessionDep, settings: SettingsDep, actor: Writer, context: WriteContextDep
) -> EventBatchRead:
    """Record up to 1,000 events in order, all or nothing: one refused event records none of them."""
    recorded = events.record_batch(session, body.events, Fraction(settings.mass_balance_tolerance), actor)
    audit.append_all(session, context, "event.recorded", [event.id for event in recorded])
    return EventBatchRead(events=[shown_to(actor, event) for event in recorded])


@router.get("/events/{id}", summary="Get an event", responses=problems(404))
def get_event(id: EventId, session: SessionDep, actor: MaterialReader) -> EventRead:
    """One recorded event, with the lots it consumed and the lots it made.

    An organization's keys see the events at its own facilities and the transfers delivered to it;
    another organization's event is 404, as if it did not exist. Lots held by another organization
    appear without id or code, in `inputs_redacted` and `outputs_redacted`. Admin and auditor keys see everything.
    """
    return events.get_event(session, id, actor)


@router.post(
    "/events/{id}/void",
    summary="Void an event",
    responses=problems(404, 409, conflict="The event is already voided, or a later event consumed one of its lots."),
)
def void_event(id: EventId, session: SessionDep, actor: Writer, context: WriteContextDep) -> EventRead:
    """Cancel an event recorded in error: its lots become voided and its inputs get their quantities back."""
    voided = events.void_event(session, id, actor)
    audit.append(session, context, "event.voided", voided.id)
    return shown_to(actor, voided)
