"""Capturing an EPCIS document: validate, map each event, record them all in document order, or none.

Runs in the caller's one transaction (MAPPING.md 3.1): the first refusal, schema or mapping or a
Lodestone check, rolls back everything, with its place in the document. Events the service already
holds under the same eventID and hash are no-ops, so capturing a document twice records it once.
"""

import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlmodel import Session, col, select

from service.access import Principal
from service.config import Settings
from service.db import utcnow
from service.epcis import jsonio
from service.epcis.hashing import context_namespaces, event_hash
from service.epcis.mapping import Mapped, Mapper
from service.epcis.schema import load_validator
from service.errors import Conflict, FieldError, LodestoneError, NotFound, NotMappable, PayloadTooLarge, SchemaInvalid
from service.events.record import record_batch, void_event
from service.models import EpcisCapture, EpcisEvent, Event
from service.pagination import decode_cursor, paginate
from service.schemas import Page
from service.schemas.epcis import CapturedEvent, CaptureRead
from service.visibility import issued_by_own

# Events in one document: as many as a batch of Lodestone events (GS1-EPCIS-Capture-Limit).
CAPTURE_LIMIT = 1000


@dataclass
class Captured:
    """A finished capture: the job as answered, and what the audit trail records."""

    job: CaptureRead
    recorded: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    index: int
    at: str
    event_id: str
    hash: str
    event: dict[str, Any]
    mapped: Mapped


def event_list(document: Any) -> tuple[list[Any], str]:
    """The events of an EPCISDocument (or of an EPCISQueryDocument's results), and their place in it."""
    if not isinstance(document, dict) or not isinstance(document.get("epcisBody"), dict):
        return [], "epcisBody.eventList"
    body = document["epcisBody"]
    if document.get("type") == "EPCISQueryDocument":
        results = (
            body.get("queryResults", {}).get("resultsBody", {}) if isinstance(body.get("queryResults"), dict) else {}
        )
        events = results.get("eventList") if isinstance(results, dict) else None
        return (events if isinstance(events, list) else []), "epcisBody.queryResults.resultsBody.eventList"
    events = body.get("eventList")
    return (events if isinstance(events, list) else []), "epcisBody.eventList"


def capture(session: Session, document: Any, settings: Settings, actor: Principal) -> Captured:
    """Validate and record a whole EPCIS document in the caller's transaction; refuse it whole or record it all."""
    created_at = utcnow()
    errors = load_validator(settings.epcis_schema).errors(document)
    if errors:
        detail = "; ".join(f"{e.field or 'document'}: {e.message}" for e in errors[:5])
        raise SchemaInvalid(f"The document is not valid EPCIS 2.0: {detail}", errors)
    if document.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        raise NotMappable("type: only an EPCISDocument is captured", [FieldError("type", "must be EPCISDocument")])
    events, events_at = event_list(document)
    if len(events) > CAPTURE_LIMIT:
        raise PayloadTooLarge(f"A document holds at most {CAPTURE_LIMIT} events; this one has {len(events)}.")
    job = EpcisCapture(
        id=str(uuid.uuid4()),
        created_at=created_at,
        finished_at=created_at,
        key_id=actor.key_id,
        organization=actor.organization,
        events=[],
    )
    session.add(job)
    session.flush()
    namespaces = context_namespaces(document.get("@context"))
    digests = [event_hash(event, namespaces) for event in events]
    run = _Run(session, settings, actor, job, namespaces)
    run.held_hashes(
        [
            event["eventID"] if isinstance(event.get("eventID"), str) else d
            for event, d in zip(events, digests, strict=True)
        ]
    )
    for index, (event, digest) in enumerate(zip(events, digests, strict=True)):
        run.take(index, f"{events_at}.{index}", event, digest)
    run.flush()
    job.events = [entry.model_dump() for entry in run.results]
    job.finished_at = utcnow()
    session.add(job)
    session.flush()
    return Captured(capture_read(job), run.recorded, run.voided)


class _Run:
    """One document's events in order: creates gathered into batches, flushed before a void or the end."""

    def __init__(
        self, session: Session, settings: Settings, actor: Principal, job: EpcisCapture, namespaces: dict[str, str]
    ) -> None:
        self.session = session
        self.actor = actor
        self.job = job
        self.tolerance = Fraction(settings.mass_balance_tolerance)
        self.namespaces = namespaces
        self.mapper = Mapper(session, namespaces, settings.epcis_id_base)
        self.pending: list[_Pending] = []
        self.held: dict[str, tuple[str, str | None]] = {}
        self.results: list[CapturedEvent] = []
        self.recorded: list[str] = []
        self.voided: list[str] = []

    def held_hashes(self, event_ids: list[str]) -> None:
        """The events already held under the document's eventIDs, in one query: eventID -> (hash, event id)."""
        query = (
            select(EpcisEvent.event_id, EpcisEvent.hash, Event.id)
            .join(Event, col(Event.pk) == col(EpcisEvent.event_pk))
            .where(col(EpcisEvent.event_id).in_(set(event_ids)))
        )
        self.held = {event_id: (digest, lodestone) for event_id, digest, lodestone in self.session.exec(query)}

    def take(self, index: int, at: str, event: Any, digest: str) -> None:
        sent_id = event.get("eventID")
        event_id = sent_id if isinstance(sent_id, str) else digest
        if "errorDeclaration" in event:
            self.mapper.check_supported(event, at)
            self.flush()
            self._declare(at, event_id, digest, event)
            return
        held = self.held.get(event_id)
        if held is not None:
            if held[0] != digest:
                raise Conflict(
                    f"{at}.eventID: the service already holds an event {event_id} with other content "
                    "(epcisException:ResourceAlreadyExistsException)",
                    [FieldError(f"{at}.eventID", "already held with other content")],
                )
            self.results.append(CapturedEvent(eventID=event_id, event=held[1], created=False))
            return
        mapped = self.mapper.map(event, at)
        self.held[event_id] = (digest, None)  # a repeat later in the document is a no-op too
        if mapped.body is None:  # the arrival of a shipping already captured
            self.results.append(CapturedEvent(eventID=event_id, event=None, created=False, action="none"))
            return
        self.pending.append(_Pending(index, at, event_id, digest, event, mapped))
        self.mapper.remember(mapped)
        self.results.append(CapturedEvent(eventID=event_id, event=None, created=True))

    def flush(self) -> None:
        """Record the gathered events as one batch, then keep each one's EPCIS identity and raw JSON."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.mapper.forget()

        def locate(k: int, exc: LodestoneError) -> LodestoneError:
            return pending[k].mapped.locate(exc, pending[k].at)

        bodies = [p.mapped.body for p in pending if p.mapped.body is not None]
        classes = [p.mapped.epc_classes for p in pending]
        recorded = record_batch(self.session, bodies, self.tolerance, self.actor, locate=locate, epc_classes=classes)
        ids = [read.id for read in recorded]
        pks = dict(self.session.exec(select(Event.id, Event.pk).where(col(Event.id).in_(ids))).all())
        self.session.add_all(
            EpcisEvent(
                event_id=item.event_id,
                hash=item.hash,
                event_pk=pks[read.id] or 0,
                capture_pk=self.job.pk or 0,
                document=jsonio.dumps(item.event),
            )
            for item, read in zip(pending, recorded, strict=True)
        )
        self.session.flush()
        by_id = {item.event_id: read.id for item, read in zip(pending, recorded, strict=True)}
        self.held |= {item.event_id: (item.hash, by_id[item.event_id]) for item in pending}
        for result in self.results:
            if result.created and result.event is None and result.eventID in by_id:
                result.event = by_id[result.eventID]
        self.recorded.extend(ids)

    def _declare(self, at: str, event_id: str, digest: str, event: dict[str, Any]) -> None:
        """An error declaration voids the event it repeats: same eventID, otherwise identical (same hash)."""
        held = self.session.exec(select(EpcisEvent).where(EpcisEvent.event_id == event_id)).first()
        if held is None:
            raise NotMappable(
                f"{at}.eventID: no captured event has the eventID {event_id}; an error declaration voids an event "
                "captured here (a Lodestone event is voided with POST /v1/events/{id}/void)",
                [FieldError(f"{at}.eventID", "no captured event has this eventID")],
            )
        if held.hash != digest:
            raise NotMappable(
                f"{at}: an error declaration repeats the event it declares, otherwise identical; this one differs "
                f"from {event_id} (their event hashes differ)",
                [FieldError(at, "differs from the event it declares")],
            )
        lodestone = self.session.get(Event, held.event_pk)
        assert lodestone is not None
        if lodestone.status == "voided":
            self.results.append(CapturedEvent(eventID=event_id, event=lodestone.id, created=False, action="voided"))
            return
        try:
            void_event(self.session, lodestone.id, self.actor)
        except LodestoneError as exc:
            raise exc.at(at) from None
        held.declaration = jsonio.dumps(event)
        self.session.add(held)
        self.session.flush()
        self.voided.append(lodestone.id)
        self.results.append(CapturedEvent(eventID=event_id, event=lodestone.id, created=True, action="voided"))


def capture_read(job: EpcisCapture) -> CaptureRead:
    return CaptureRead(
        captureID=job.id,
        createdAt=job.created_at,
        finishedAt=job.finished_at,
        running=False,
        success=True,
        captureErrorBehaviour="rollback",
        errors=[],
        events=[CapturedEvent.model_validate(entry) for entry in job.events],
    )


def get_capture(session: Session, capture_id: str, actor: Principal) -> CaptureRead:
    """One capture job; another organization's is not found, exactly like one that does not exist."""
    own = issued_by_own(actor, col(EpcisCapture.organization))
    job = session.exec(select(EpcisCapture).where(EpcisCapture.id == capture_id, own)).first()
    if job is None:
        raise NotFound(f"No capture job has the id {capture_id!r}.")
    return capture_read(job)


def list_captures(session: Session, actor: Principal, limit: int, cursor: str | None) -> Page[CaptureRead]:
    after = decode_cursor(cursor, int)
    own = issued_by_own(actor, col(EpcisCapture.organization))
    query = select(EpcisCapture).where(own).order_by(col(EpcisCapture.pk)).limit(limit + 1)
    if after is not None:
        query = query.where(col(EpcisCapture.pk) > after)
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda job: job.pk or 0)
    return Page(items=[capture_read(job) for job in rows], next_cursor=next_cursor)
