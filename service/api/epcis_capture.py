"""GS1 EPCIS 2.0 capture: EPCIS documents recorded as Lodestone events, all or nothing."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Request, Response
from sqlmodel import Session

from service import audit
from service.access import Principal
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router, write_problems
from service.api.deps import MaterialReader, Reader, SessionDep, SettingsDep, WriteContextDep, Writer, run_database_work
from service.audit import WriteContext
from service.config import Settings
from service.db import utcnow
from service.epcis import capture as capturing
from service.epcis.capture import CAPTURE_LIMIT
from service.errors import FieldError, LodestoneError, UnsupportedMediaType, invalid
from service.pagination import DEFAULT_LIMIT
from service.schemas import Page
from service.schemas.epcis import CapturedEvent, CaptureRead

router = v1_router("epcis")
MEDIA_TYPES = ("application/json", "application/ld+json")
CaptureId = Annotated[str, Path(description="The capture job's id.", examples=["0b7f6c8e-3d0a-4a43-9c1e-5f2d7c9a1b20"])]
GS1_HEADERS = {
    "GS1-EPCIS-Version": "2.0.0",
    "GS1-CBV-Version": "2.0.0",
    "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
    "GS1-Capture-Error-Behaviour": "rollback",
}

# Named once, so both media types share one schema (and generated clients one model).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "EPCISDocument": {
        "type": "object",
        "description": "A GS1 EPCIS 2.0 EPCISDocument (JSON-LD), checked against GS1's EPCIS 2.0.1 JSON schema.",
        "additionalProperties": True,
    },
    "EPCISEvent": {
        "type": "object",
        "description": "One GS1 EPCIS 2.0 event (ObjectEvent or TransformationEvent) carrying its `@context`.",
        "additionalProperties": True,
    },
}
DOCUMENT_REF = {"$ref": "#/components/schemas/EPCISDocument"}
EVENT_REF = {"$ref": "#/components/schemas/EPCISEvent"}

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "@context": [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"lodestone": "urn:lodestone:epcis:1:"},
    ],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2025-06-01T08:00:00Z",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "eventTime": "2025-06-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "ADD",
                "bizStep": "commissioning",
                "disposition": "active",
                "bizLocation": {"id": "urn:lodestone:facility/MTW"},
                "quantityList": [{"epcClass": "urn:lodestone:lot/LYNAS/MTW-C9", "quantity": 10000, "uom": "KGM"}],
                "ilmd": {
                    "lodestone:lots": [
                        {
                            "lodestone:material": "concentrate",
                            "lodestone:composition": {"lodestone:Nd": "900", "lodestone:Pr": "300"},
                        }
                    ]
                },
            }
        ]
    },
}
CAPTURED_EXAMPLE = {
    "captureID": "0b7f6c8e-3d0a-4a43-9c1e-5f2d7c9a1b20",
    "createdAt": "2025-06-01T08:00:01Z",
    "finishedAt": "2025-06-01T08:00:01Z",
    "running": False,
    "success": True,
    "captureErrorBehaviour": "rollback",
    "errors": [],
    "events": [
        {
            "eventID": "ni:///sha-256;5e0e2e2c7d0f3a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b?ver=CBV2.0",
            "event": "6f1c2b1e-8d1a-4c55-9a57-2f0f4f1d2a11",
            "created": True,
            "action": "recorded",
        }
    ],
}


def _capture(
    session: Session, document: Any, settings: Settings, actor: Principal, context: WriteContext
) -> CaptureRead:
    captured = capturing.capture(session, document, settings, actor)
    audit.append_all(session, context, "event.recorded", captured.recorded)
    audit.append_all(session, context, "event.voided", captured.voided)
    audit.append(session, context, "epcis.captured", captured.job.captureID)
    return captured.job


@router.post(
    "/epcis/capture",
    status_code=202,
    summary="Capture an EPCIS document",
    responses=write_problems(
        "An eventID already held with other content, a lot code already used, or more consumed than remains."
    )
    | problems(415, 503)
    | {202: {"content": {"application/json": {"example": CAPTURED_EXAMPLE}}}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": DOCUMENT_REF, "example": EXAMPLE_DOCUMENT} for media in MEDIA_TYPES},
        }
    },
)
async def capture_document(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: Writer,
    context: WriteContextDep,
) -> CaptureRead:
    """Record a GS1 EPCIS 2.0 document's events as Lodestone events, in order, all or nothing (MAPPING.md).

    The document is checked against the EPCIS 2.0.1 JSON schema, then each event is mapped: ObjectEvent ADD
    commissioning at a mine -> extraction, other ObjectEvent ADD -> receipt (`lodestone:declaredOrigin`),
    TransformationEvent -> processing (`lodestone:stage`) or, with bizStep shipping, transfer; an error
    declaration voids the event it repeats. An event already held under the same eventID and content is a
    no-op; other content under a held eventID is 409. Refusals are 422 (not GS1's 400) naming the place in
    the document, such as `epcisBody.eventList.3.quantityList.0.quantity`; nothing is recorded then.
    """
    document = await _read(request)
    job = await run_database_work(request, _capture, session, document, settings, actor, context)
    response.headers["Location"] = f"/v1/epcis/capture/{job.captureID}"
    response.headers.update(GS1_HEADERS)
    return job


async def _read(request: Request) -> Any:
    """The body as exact JSON, once its media type and the capture behaviour asked for are ones Lodestone takes."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"EPCIS documents are captured as {' or '.join(MEDIA_TYPES)} (JSON-LD); {media or 'no type'} was sent."
        )
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback")
    if behaviour != "rollback":
        raise invalid(
            "GS1-Capture-Error-Behaviour", "only rollback is supported: a document is recorded whole or not at all"
        )
    return await request.json()


def _capture_one(
    session: Session, event: Any, settings: Settings, actor: Principal, context: WriteContext
) -> CapturedEvent:
    """One event, captured as a document of one (GS1's ``POST /events``); refusals name places in the event."""
    if not isinstance(event, dict):
        raise invalid("body", "must be one EPCIS event object, carrying its @context")
    body = {key: value for key, value in event.items() if key != "@context"}
    document = {
        "@context": event.get("@context"),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utcnow().isoformat().replace("+00:00", "Z"),
        "epcisBody": {"eventList": [body]},
    }
    try:
        job = _capture(session, document, settings, actor, context)
    except LodestoneError as exc:
        raise _in_event(exc) from None
    return job.events[0]


def _in_event(exc: LodestoneError) -> LodestoneError:
    def place(field: str) -> str:
        for prefix in ("epcisBody.eventList.0.", "epcisBody.eventList.0"):
            if field.startswith(prefix):
                return field[len(prefix) :] or "body"
        return field

    errors = [FieldError(place(error.field), error.message) for error in exc.errors]
    return type(exc)(exc.detail.replace("epcisBody.eventList.0.", "").replace("epcisBody.eventList.0", "body"), errors)


@router.post(
    "/epcis/events",
    status_code=201,
    summary="Capture one EPCIS event",
    responses=write_problems("The eventID is already held with other content.")
    | problems(415, 503)
    | {200: {"description": "The same event was already held: nothing recorded."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {
                    "schema": EVENT_REF,
                    "example": {"@context": EXAMPLE_DOCUMENT["@context"]}
                    | EXAMPLE_DOCUMENT["epcisBody"]["eventList"][0],
                }
                for media in MEDIA_TYPES
            },
        }
    },
)
async def capture_event(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: Writer,
    context: WriteContextDep,
) -> CapturedEvent:
    """Record one EPCIS event (carrying its `@context`) as capture would: 201, or 200 when it was already held.

    `Location` names the event at `GET /v1/epcis/events/{eventID}`; refusals name places in the event itself.
    """
    event = await _read(request)
    captured = await run_database_work(request, _capture_one, session, event, settings, actor, context)
    response.headers["Location"] = f"/v1/epcis/events/{quote(captured.eventID, safe='')}"
    if not captured.created:
        response.status_code = 200
    return captured


@router.options("/epcis/capture", status_code=204, summary="What capture supports", responses=problems())
def capture_options(_actor: Reader, settings: SettingsDep) -> Response:
    """The GS1 capture headers: EPCIS and CBV 2.0.0, at most 1,000 events a document, rollback on any error."""
    limits = {"GS1-EPCIS-Capture-File-Size-Limit": str(settings.max_body_bytes)}
    return Response(status_code=204, headers=GS1_HEADERS | limits)


@router.get("/epcis/capture/{id}", summary="Get a capture job", responses=problems(404))
def get_capture(id: CaptureId, session: SessionDep, actor: MaterialReader) -> CaptureRead:
    """A finished capture job: when it ran and which Lodestone event each EPCIS event became.

    Admin and auditor keys read every job; other keys only their own organization's (another's is not found).
    """
    return capturing.get_capture(session, id, actor)


@router.get("/epcis/capture", summary="List capture jobs", responses=problems(422))
def list_captures(
    session: SessionDep, actor: MaterialReader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[CaptureRead]:
    """Capture jobs the key may read, oldest first."""
    return capturing.list_captures(session, actor, limit, cursor)
