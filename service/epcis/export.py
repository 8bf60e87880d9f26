"""Lodestone's events as GS1 EPCIS 2.0 events and documents (MAPPING.md 2).

One Lodestone event is exactly one EPCIS event: extraction and receipt are ObjectEvents ``ADD``,
processing and transfer TransformationEvents. A voided event is given twice: as recorded, then as a
copy carrying ``errorDeclaration`` whose ``recordTime`` is the moment it was voided. An event that
came in by capture is given back as it was sent, because other repositories hold it under the same
eventID and would see any regeneration as other content.

Lodestone's own data travels in the ``lodestone:`` extension; decimals inside it stay strings, and
only ``quantity`` is a JSON number (a ``Decimal``: write documents with ``jsonio.dumps``).
``cbvmda:countryOfOrigin`` is never exported: it means the customs origin of every output, which
Lodestone's routes do not state on their own, and ``lodestone:origin`` already carries the routes.
"""

import copy
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlmodel import Session, col, select

from service import origin as engine
from service.db import utcnow
from service.epcis import CONTEXT, PREFIX, UOM, jsonio
from service.epcis.identifiers import facility_uri, lot_uri, organization_uri
from service.lots import lot_state, origin_read
from service.models import EpcisEvent, Event, EventInput, Facility, Lot, Organization, Sku
from service.numbers import format_kg

EVENT_TYPES = ("ObjectEvent", "TransformationEvent")
# Lodestone event type -> (EPCIS type, bizStep, disposition).
SHAPES = {
    "extraction": ("ObjectEvent", "commissioning", "active"),
    "receipt": ("ObjectEvent", "receiving", "active"),
    "processing": ("TransformationEvent", "commissioning", "active"),
    "transfer": ("TransformationEvent", "shipping", "in_transit"),
}


def ext(local: str) -> str:
    """A key of the Lodestone extension: ``lodestone:{local}`` (MAPPING.md 1.1: prefixed at every level)."""
    return f"{PREFIX}:{local}"


def epcis_time(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, as EPCIS writes it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def native_event_id(event: Event) -> str:
    return f"urn:uuid:{event.id}"


@dataclass
class _Loaded:
    """What the EPCIS events of a set of Lodestone events are made of, read in a few queries."""

    facilities: dict[int, Facility] = field(default_factory=dict)
    organizations: dict[int, Organization] = field(default_factory=dict)
    skus: dict[int, Sku] = field(default_factory=dict)
    inputs: dict[int, list[tuple[EventInput, Lot]]] = field(default_factory=lambda: defaultdict(list))
    outputs: dict[int, list[Lot]] = field(default_factory=lambda: defaultdict(list))
    captured: dict[int, EpcisEvent] = field(default_factory=dict)


def _load(session: Session, events: Sequence[Event]) -> _Loaded:
    loaded = _Loaded()
    pks = [event.pk or 0 for event in events]
    if not pks:
        return loaded
    loaded.captured = {
        row.event_pk: row for row in session.exec(select(EpcisEvent).where(col(EpcisEvent.event_pk).in_(pks)))
    }
    native = [pk for pk in pks if pk not in loaded.captured]
    lots: list[Lot] = []
    if native:
        inputs = session.exec(
            select(EventInput, Lot)
            .join(Lot, col(EventInput.lot_pk) == Lot.pk)
            .where(col(EventInput.event_pk).in_(native))
            .order_by(col(EventInput.event_pk), col(EventInput.position))
        )
        for row, lot in inputs:
            loaded.inputs[row.event_pk].append((row, lot))
            lots.append(lot)
        outputs = session.exec(
            select(Lot).where(col(Lot.event_pk).in_(native)).order_by(col(Lot.event_pk), col(Lot.position))
        )
        for lot in outputs:
            loaded.outputs[lot.event_pk].append(lot)
            lots.append(lot)
    facility_pks = {event.facility_pk for event in events} | {lot.facility_pk for lot in lots}
    loaded.facilities = {
        facility.pk or 0: facility
        for facility in session.exec(select(Facility).where(col(Facility.pk).in_(facility_pks)))
    }
    organization_pks = {facility.organization_pk for facility in loaded.facilities.values()}
    organization_pks |= {lot.organization_pk for lot in lots}
    loaded.organizations = {
        organization.pk or 0: organization
        for organization in session.exec(select(Organization).where(col(Organization.pk).in_(organization_pks)))
    }
    sku_pks = {lot.sku_pk for lot in lots if lot.sku_pk is not None}
    if sku_pks:
        loaded.skus = {sku.pk or 0: sku for sku in session.exec(select(Sku).where(col(Sku.pk).in_(sku_pks)))}
    return loaded


class _Exporter:
    def __init__(self, loaded: _Loaded, base: str) -> None:
        self.loaded = loaded
        self.base = base

    def place(self, facility_pk: int) -> str:
        facility = self.loaded.facilities[facility_pk]
        return facility_uri(facility.code, facility.gln, self.base)

    def party(self, organization_pk: int) -> str:
        organization = self.loaded.organizations[organization_pk]
        return organization_uri(organization.code, organization.gln, self.base)

    def epc_class(self, lot: Lot) -> str:
        if lot.epc_class:
            return lot.epc_class
        return lot_uri(self.loaded.organizations[lot.organization_pk].code, lot.code, self.base)

    def quantity(self, lot: Lot, quantity: Decimal) -> dict[str, Any]:
        item: dict[str, Any] = {"epcClass": self.epc_class(lot), "quantity": jsonio.plain(quantity)}
        if lot.unit in UOM:
            item["uom"] = UOM[lot.unit]
        return item

    def event(self, event: Event) -> dict[str, Any]:
        pk = event.pk or 0
        kind, biz_step, disposition = SHAPES[event.type]
        facility = self.loaded.facilities[event.facility_pk]
        place = self.place(event.facility_pk)
        outputs = self.loaded.outputs.get(pk, [])
        inputs = self.loaded.inputs.get(pk, [])
        given = (event.body or {}).get("outputs") or []
        document: dict[str, Any] = {
            "type": kind,
            "eventID": native_event_id(event),
            "eventTime": epcis_time(event.occurred_at),
            "eventTimeZoneOffset": "+00:00",
            "recordTime": epcis_time(event.recorded_at),
        }
        if event.type == "processing":
            document["transformationID"] = document["eventID"]
        if kind == "ObjectEvent":
            document["action"] = "ADD"
        document |= {"bizStep": biz_step, "disposition": disposition, "readPoint": {"id": place}}
        if event.type != "transfer":
            document["bizLocation"] = {"id": place}
        made = [self.quantity(lot, lot.quantity) for lot in outputs]
        if kind == "ObjectEvent":
            document["quantityList"] = made
        else:
            document["inputQuantityList"] = [self.quantity(lot, row.quantity) for row, lot in inputs]
            document["outputQuantityList"] = made
        holder = facility.organization_pk
        if event.type == "transfer" and outputs:
            document["sourceList"] = [
                {"type": "owning_party", "source": self.party(holder)},
                {"type": "location", "source": place},
            ]
            receiver = outputs[0]
            document["destinationList"] = [
                {"type": "owning_party", "destination": self.party(receiver.organization_pk)},
                {"type": "location", "destination": self.place(receiver.facility_pk)},
            ]
        elif event.type == "receipt":
            document["destinationList"] = [
                {"type": "owning_party", "destination": self.party(holder)},
                {"type": "location", "destination": place},
            ]
        entries = []
        for lot in outputs:
            body = given[lot.position] if lot.position < len(given) else {}
            entries.append(self.ilmd_lot(event, lot, body))
        document["ilmd"] = {ext("lots"): entries}
        document[ext("eventType")] = event.type
        if event.stage is not None:
            document[ext("stage")] = event.stage
        document[ext("facility")] = facility.code
        if event.reference is not None:
            document[ext("reference")] = event.reference
        return document

    def ilmd_lot(self, event: Event, lot: Lot, given: dict[str, Any]) -> dict[str, Any]:
        """One output lot's ILMD entry: what the event said of it, and what Lodestone computed (informational)."""
        entry: dict[str, Any] = {
            ext("epcClass"): self.epc_class(lot),
            ext("code"): lot.code,
            ext("organization"): self.loaded.organizations[lot.organization_pk].code,
        }
        if event.type == "transfer":
            entry[ext("facility")] = self.loaded.facilities[lot.facility_pk].code
        entry[ext("material")] = lot.material
        if given.get("composition") is not None:
            entry[ext("composition")] = {ext(element): str(kg) for element, kg in given["composition"].items()}
        else:
            computed = lot_state(lot).composition
            entry[ext("derivedComposition")] = {ext(element): format_kg(kg) for element, kg in computed.items()}
        if lot.sku_pk is not None:
            sku = self.loaded.skus[lot.sku_pk]
            entry[ext("sku")] = sku.sku
            if sku.gtin:
                entry[ext("gtin")] = sku.gtin
        value = given.get("value")
        if value is not None:
            entry[ext("value")] = {ext("amount"): str(value["amount"]), ext("currency"): value["currency"]}
        elif lot.value_amount is not None and lot.value_currency is not None:
            # A transfer's pro rata share of its input's value: computed, so informational like derivedComposition.
            amount = format_kg(Fraction(lot.value_amount))
            entry[ext("derivedValue")] = {ext("amount"): amount, ext("currency"): lot.value_currency}
        if given.get("declared_origin"):
            entry[ext("declaredOrigin")] = [
                {
                    **{ext(stage): value for stage, value in route["route"].items()},
                    ext("percent"): str(route["percent"]),
                }
                for route in given["declared_origin"]
            ]
        entry[ext("origin")] = [
            {
                **{ext(stage): share.route[stage] for stage in engine.STAGES},
                ext("kg"): share.kg,
                ext("percent"): share.percent,
            }
            for share in origin_read(lot).routes
        ]
        return entry


def _with_id(document: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A captured event as sent; one sent without eventID gets the one it is held under (its event hash)."""
    if "eventID" in document:
        return document
    return {"type": document.get("type"), "eventID": event_id, **document}


def _declared(document: dict[str, Any], voided_at: datetime) -> dict[str, Any]:
    """The error declaration of an event: the event itself, recorded again when voided, saying so."""
    declaration = copy.deepcopy(document)
    declaration["recordTime"] = epcis_time(voided_at)
    declaration["errorDeclaration"] = {"declarationTime": epcis_time(voided_at)}
    return declaration


def epcis_events(session: Session, events: Sequence[Event], base: str) -> dict[int, list[dict[str, Any]]]:
    """Each event's EPCIS events, by event pk: the event, then its error declaration if it was voided."""
    loaded = _load(session, events)
    exporter = _Exporter(loaded, base)
    result: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        pk = event.pk or 0
        captured = loaded.captured.get(pk)
        if captured is not None:
            document = _with_id(jsonio.loads(captured.document), captured.event_id)
        else:
            document = exporter.event(event)
        shown = [document]
        if event.voided_at is not None:
            if captured is not None and captured.declaration is not None:
                shown.append(_with_id(jsonio.loads(captured.declaration), captured.event_id))
            else:
                shown.append(_declared(document, event.voided_at))
        result[pk] = shown
    return result


def event_list(session: Session, events: Sequence[Event], base: str) -> list[dict[str, Any]]:
    """The EPCIS events of ``events``, in the order given, each declaration right after its event."""
    exported = epcis_events(session, events, base)
    return [document for event in events for document in exported[event.pk or 0]]


def query_document(events: list[dict[str, Any]], created_at: datetime | None = None) -> dict[str, Any]:
    """A SimpleEventQuery answer: an ``EPCISQueryDocument`` holding ``events``."""
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": epcis_time(created_at or utcnow()),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }


def export_document(events: list[dict[str, Any]], created_at: datetime | None = None) -> dict[str, Any]:
    """A whole export: an ``EPCISDocument`` holding ``events`` (what ``POST /v1/epcis/capture`` takes)."""
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": epcis_time(created_at or utcnow()),
        "epcisBody": {"eventList": events},
    }


def export_all(session: Session, base: str, chunk: int = 500) -> dict[str, Any]:
    """Every event the service holds in recorded order, each voided one with its declaration: one ``EPCISDocument``."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        rows = list(session.exec(select(Event).where(col(Event.pk) > after).order_by(col(Event.pk)).limit(chunk)))
        events += event_list(session, rows, base)
        if len(rows) < chunk:
            return export_document(events)
        after = rows[-1].pk or 0
