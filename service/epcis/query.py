"""GS1 SimpleEventQuery over Lodestone's events (MAPPING.md 6.3): parameters, filtering, keyset pages.

A query is answered in two steps. SQL narrows the events on what maps directly (times, event type,
facility, event id, voided or not, and what the caller may see), never excluding an event that could
match; the EPCIS events produced from them are then matched exactly, field by field, as a generic
EPCIS client would read them. Pages are cut on the key (event pk, 0 for the event or 1 for its error
declaration), so they never skip or repeat an event, whatever is recorded between two pages.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.access import Principal
from service.epcis import cbv_word
from service.epcis.export import SHAPES, epcis_events, event_list
from service.epcis.identifiers import canonical_uri, parse_place
from service.errors import invalid
from service.lots import get_lot_view
from service.models import EpcisEvent, Event, EventInput, Facility, Lot
from service.pagination import decode_cursor, encode_cursor
from service.visibility import sees_everything

PARAMETERS = frozenset(
    {
        "eventType",
        "GE_eventTime",
        "LT_eventTime",
        "GE_recordTime",
        "LT_recordTime",
        "EQ_bizStep",
        "EQ_bizLocation",
        "EQ_readPoint",
        "MATCH_epcClass",
        "MATCH_inputEPCClass",
        "MATCH_outputEPCClass",
        "MATCH_anyEPCClass",
        "EQ_eventID",
        "EXISTS_errorDeclaration",
        "EQ_transformationID",
        "perPage",
        "nextPageToken",
    }
)
GS1_EVENT_TYPES = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"}
)
# Which EPCIS lists each MATCH_ parameter reads.
EPC_CLASS_LISTS = {
    "MATCH_epcClass": ("quantityList", "childQuantityList"),
    "MATCH_inputEPCClass": ("inputQuantityList",),
    "MATCH_outputEPCClass": ("outputQuantityList",),
    "MATCH_anyEPCClass": ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"),
}
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 500

PageKey = tuple[int, int]


def check_parameters(names: Iterable[str]) -> None:
    """GS1's QueryParameterException: a parameter this service does not implement is refused, not ignored."""
    for name in names:
        if name not in PARAMETERS:
            raise invalid(name, f"is not a query parameter this service supports ({', '.join(sorted(PARAMETERS))})")


def pipe_values(value: str | None) -> list[str] | None:
    """GS1's ``pipeDelimited`` multi-values: ``a|b`` means a or b."""
    return None if value is None else [item for item in value.split("|") if item]


@dataclass(frozen=True)
class Places:
    """The locations an ``EQ_readPoint`` or ``EQ_bizLocation`` names, in any form that names a facility."""

    uris: frozenset[str]
    facilities: tuple[Facility, ...]

    @property
    def facility_pks(self) -> list[int]:
        return [facility.pk or 0 for facility in self.facilities]

    def matches(self, uri: object, base: str) -> bool:
        if not isinstance(uri, str):
            return False
        if uri in self.uris or canonical_uri(uri) in self.uris:
            return True
        try:
            place = parse_place(uri, base)
        except ValueError:
            return False
        if place is None:
            return False
        return any(
            (place.gln is not None and place.gln == facility.gln)
            or (place.facility is not None and place.facility.lower() == facility.code.lower())
            for facility in self.facilities
        )


def resolve_places(session: Session, name: str, uris: list[str], base: str) -> Places:
    """The facilities the URIs name (a GLN, an SGLN, or ``{base}facility/{code}``); a malformed GLN is 422."""
    facilities: dict[int, Facility] = {}
    for uri in uris:
        try:
            place = parse_place(uri, base)
        except ValueError as exc:
            raise invalid(name, str(exc)) from None
        if place is None:
            continue
        if place.gln is not None:
            query = select(Facility).where(Facility.gln == place.gln)
        else:
            query = select(Facility).where(sa.func.lower(col(Facility.code)) == (place.facility or "").lower())
        for facility in session.exec(query):
            facilities[facility.pk or 0] = facility
    known = frozenset(uris) | frozenset(canonical_uri(uri) for uri in uris)
    return Places(known, tuple(facilities.values()))


@dataclass(frozen=True)
class EventQuery:
    """SimpleEventQuery's phase 1 parameters (MAPPING.md 6.3); None means the parameter was not given."""

    event_types: frozenset[str] | None = None
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    biz_steps: frozenset[str] | None = None
    biz_location: Places | None = None
    read_point: Places | None = None
    # MATCH_ parameter -> patterns (exact, or a prefix when ending in ``*``).
    epc_classes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    event_ids: frozenset[str] | None = None
    error_declaration: bool | None = None
    transformation_ids: frozenset[str] | None = None

    def prefilter(self, query: Any) -> Any:
        """Narrow ``query`` (over Event, outer-joined to EpcisEvent) in SQL, keeping every event that could match.

        A captured event is given back as it was sent, so only its event time (normalised to UTC on
        capture) and its Lodestone status are certain; the rest is left to ``matches``.
        """
        captured = col(EpcisEvent.pk).is_not(None)
        if self.ge_event_time is not None:
            query = query.where(col(Event.occurred_at) >= self.ge_event_time)
        if self.lt_event_time is not None:
            query = query.where(col(Event.occurred_at) < self.lt_event_time)
        # A declaration is recorded when the event is voided: later than the event itself.
        if self.ge_record_time is not None:
            moment = self.ge_record_time
            query = query.where(sa.or_(captured, col(Event.recorded_at) >= moment, col(Event.voided_at) >= moment))
        if self.lt_record_time is not None:
            query = query.where(sa.or_(captured, col(Event.recorded_at) < self.lt_record_time))
        if self.event_types is not None:
            kinds = [kind for kind, shape in SHAPES.items() if shape[0] in self.event_types]
            query = query.where(sa.or_(captured, col(Event.type).in_(kinds)))
        if self.biz_steps is not None:
            kinds = [kind for kind, shape in SHAPES.items() if shape[1] in self.biz_steps]
            query = query.where(sa.or_(captured, col(Event.type).in_(kinds)))
        for places in (self.read_point, self.biz_location):
            if places is not None:
                query = query.where(sa.or_(captured, col(Event.facility_pk).in_(places.facility_pks)))
        if self.biz_location is not None:
            query = query.where(sa.or_(captured, col(Event.type) != "transfer"))
        if self.event_ids is not None:
            native = [value.removeprefix("urn:uuid:") for value in self.event_ids if value.startswith("urn:uuid:")]
            query = query.where(
                sa.or_(
                    sa.and_(col(EpcisEvent.pk).is_(None), col(Event.id).in_(native)),
                    col(EpcisEvent.event_id).in_(self.event_ids),
                )
            )
        if self.error_declaration is True:
            query = query.where(col(Event.voided_at).is_not(None))
        if self.transformation_ids is not None:
            query = query.where(sa.or_(captured, col(Event.type) == "processing"))
        return query

    def matches(self, event: Mapping[str, Any], base: str) -> bool:
        """Whether one EPCIS event, as exported, answers the query."""
        if self.event_types is not None and event.get("type") not in self.event_types:
            return False
        times = (
            ("eventTime", self.ge_event_time, self.lt_event_time),
            ("recordTime", self.ge_record_time, self.lt_record_time),
        )
        for name, since, before in times:
            if since is None and before is None:
                continue
            moment = _moment(event.get(name))
            if moment is None or (since is not None and moment < since) or (before is not None and moment >= before):
                return False
        if self.biz_steps is not None:
            step = event.get("bizStep")
            if cbv_word(step, "BizStep") not in self.biz_steps:
                return False
        for places, name in ((self.read_point, "readPoint"), (self.biz_location, "bizLocation")):
            if places is not None:
                where = event.get(name)
                if not isinstance(where, Mapping) or not places.matches(where.get("id"), base):
                    return False
        for parameter, patterns in self.epc_classes.items():
            classes = [
                item.get("epcClass")
                for list_name in EPC_CLASS_LISTS[parameter]
                for item in event.get(list_name) or []
                if isinstance(item, Mapping)
            ]
            if not any(_class_matches(value, patterns) for value in classes):
                return False
        if self.event_ids is not None and event.get("eventID") not in self.event_ids:
            return False
        if self.error_declaration is not None and ("errorDeclaration" in event) != self.error_declaration:
            return False
        return not (
            self.transformation_ids is not None and event.get("transformationID") not in self.transformation_ids
        )


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _class_matches(value: object, patterns: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    for pattern in patterns:
        if pattern.endswith("*"):
            if value.startswith(pattern[:-1]):
                return True
        elif value == pattern or canonical_uri(value) == canonical_uri(pattern):
            return True
    return False


def encode_token(key: PageKey) -> str:
    """The page key (event pk, 0 for the event or 1 for its declaration) as one cursor: ``2 * pk + part``."""
    return encode_cursor(2 * key[0] + key[1])


def decode_token(token: str | None) -> PageKey | None:
    """The key after which the next page starts; a token this service did not write is 422."""
    after = decode_cursor(token, int, field="nextPageToken")
    if after is None:
        return None
    if after < 0:
        raise invalid("nextPageToken", "is not a page token this service wrote")
    pk, part = divmod(after, 2)
    return pk, part


def visible_events(actor: Principal) -> Any:
    """The SQL condition for the events ``actor`` is given in EPCIS (over Event joined to its Facility).

    Admin and auditor keys: every event. Any other key: an event at its organization's facility all of
    whose input and output lots its organization holds. An EPCIS event cannot be redacted the way
    ``GET /v1/events/{id}`` redacts another organization's lots, so a transfer between two organizations
    is left out for both of them.
    """
    if sees_everything(actor):
        return sa.true()
    organization = actor.organization_pk
    foreign_output = sa.exists().where(col(Lot.event_pk) == col(Event.pk), col(Lot.organization_pk) != organization)
    foreign_input = (
        sa.exists()
        .where(col(EventInput.event_pk) == col(Event.pk))
        .where(col(EventInput.lot_pk) == col(Lot.pk), col(Lot.organization_pk) != organization)
    )
    return sa.and_(col(Facility.organization_pk) == organization, ~foreign_output, ~foreign_input)


def events_query(actor: Principal) -> Any:
    """Events, with their capture row if any, that ``actor`` may be given, in recorded order."""
    return (
        select(Event)
        .join(Facility, col(Event.facility_pk) == Facility.pk)
        .outerjoin(EpcisEvent, col(EpcisEvent.event_pk) == Event.pk)
        .where(visible_events(actor))
        .order_by(col(Event.pk))
    )


def run_query(
    session: Session, query: EventQuery, actor: Principal, base: str, per_page: int, after: PageKey | None
) -> tuple[list[dict[str, Any]], PageKey | None]:
    """One page of matching EPCIS events, and the key to start the next page after (None: the last page).

    Events are read in chunks until one more match than the page holds is found, or the data ends, so
    a Link to a next page is only given when there is one.
    """
    chunk = min(max(2 * per_page, 50), MAX_PER_PAGE)
    statement = query.prefilter(events_query(actor))
    start = 0 if after is None else after[0]
    found: list[tuple[PageKey, dict[str, Any]]] = []
    while True:
        rows = list(session.exec(statement.where(col(Event.pk) >= start).limit(chunk)))
        exported = epcis_events(session, rows, base)
        for event in rows:
            for copy_index, document in enumerate(exported[event.pk or 0]):
                key = (event.pk or 0, copy_index)
                if after is not None and key <= after:
                    continue
                if not query.matches(document, base):
                    continue
                found.append((key, document))
                if len(found) > per_page:
                    return [document for _, document in found[:per_page]], found[per_page - 1][0]
        if len(rows) < chunk:
            return [document for _, document in found], None
        start = (rows[-1].pk or 0) + 1


def find_event(session: Session, event_id: str, actor: Principal, base: str) -> list[dict[str, Any]]:
    """The EPCIS events held under ``event_id``: the event, and its error declaration when voided; [] if none shown."""
    statement = EventQuery(event_ids=frozenset({event_id})).prefilter(events_query(actor))
    rows = list(session.exec(statement))
    exported = epcis_events(session, rows, base)
    return [document for event in rows for document in exported[event.pk or 0] if document.get("eventID") == event_id]


def trace_events(
    session: Session, lot_id: str, direction: Literal["upstream", "downstream"], actor: Principal, base: str
) -> list[dict[str, Any]]:
    """Every event of a lot's trace the caller may be given, as EPCIS events in recorded order.

    Upstream: the event that made the lot, the events that made its inputs, and so on; downstream: the
    events that consumed it, those that consumed what they made, and so on. The walk goes no further
    than the events ``visible_events`` gives the caller (as ``GET /v1/lots/{id}/trace`` stops where the
    path enters another organization). A lot the caller may not see is not found.
    """
    root = get_lot_view(session, lot_id, actor).lot
    seen: set[int] = set()
    frontier = {root.pk or 0}
    while frontier:
        if direction == "upstream":
            made_by = session.exec(select(Lot.event_pk).where(col(Lot.pk).in_(frontier)))
            candidates = set(made_by) - seen
        else:
            consumers = session.exec(select(EventInput.event_pk).where(col(EventInput.lot_pk).in_(frontier)))
            candidates = set(consumers) - seen
        if not candidates:
            break
        shown_query = select(Event.pk).join(Facility, col(Event.facility_pk) == Facility.pk)
        shown = {
            pk or 0 for pk in session.exec(shown_query.where(col(Event.pk).in_(candidates), visible_events(actor)))
        }
        seen |= shown
        if direction == "upstream":
            frontier = set(session.exec(select(EventInput.lot_pk).where(col(EventInput.event_pk).in_(shown))))
        else:
            frontier = {pk or 0 for pk in session.exec(select(Lot.pk).where(col(Lot.event_pk).in_(shown)))}
    events = list(session.exec(select(Event).where(col(Event.pk).in_(seen)).order_by(col(Event.pk)))) if seen else []
    return event_list(session, events, base)
