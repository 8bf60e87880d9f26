"""GS1 EPCIS 2.0 query and export: Lodestone's events as EPCIS documents."""

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response

from service.api.common import problems, v1_router
from service.api.deps import MaterialReader, SessionDep, SettingsDep
from service.api.lots import LotId
from service.epcis import cbv_word, jsonio
from service.epcis.export import EVENT_TYPES, query_document
from service.epcis.query import (
    DEFAULT_PER_PAGE,
    EPC_CLASS_LISTS,
    GS1_EVENT_TYPES,
    MAX_PER_PAGE,
    EventQuery,
    check_parameters,
    decode_token,
    encode_token,
    find_event,
    pipe_values,
    resolve_places,
    run_query,
    trace_events,
)
from service.errors import NotFound, invalid
from service.schemas import UtcTimestamp

router = v1_router("epcis")
LD_JSON = "application/ld+json"
JSON = "application/json"

EXAMPLE_EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventID": "urn:uuid:6f1c2b1e-8d1a-4c55-9a57-2f0f4f1d2a11",
    "eventTime": "2025-06-01T00:00:00Z",
    "eventTimeZoneOffset": "+00:00",
    "recordTime": "2025-06-01T00:00:01.250000Z",
    "action": "ADD",
    "bizStep": "commissioning",
    "disposition": "active",
    "readPoint": {"id": "urn:lodestone:facility/MTW"},
    "bizLocation": {"id": "urn:lodestone:facility/MTW"},
    "quantityList": [{"epcClass": "urn:lodestone:lot/LYNAS/MTW-C1", "quantity": 10000, "uom": "KGM"}],
    "ilmd": {
        "lodestone:lots": [
            {
                "lodestone:epcClass": "urn:lodestone:lot/LYNAS/MTW-C1",
                "lodestone:code": "MTW-C1",
                "lodestone:organization": "LYNAS",
                "lodestone:material": "concentrate",
                "lodestone:composition": {"lodestone:Nd": "900", "lodestone:Pr": "300"},
                "lodestone:origin": [
                    {
                        "lodestone:mining": "AU",
                        "lodestone:refining": "none",
                        "lodestone:metal_making": "none",
                        "lodestone:magnet_making": "none",
                        "lodestone:manufacturing": "none",
                        "lodestone:kg": "1200",
                        "lodestone:percent": "100",
                    }
                ],
            }
        ]
    },
    "lodestone:eventType": "extraction",
    "lodestone:facility": "MTW",
}
EXAMPLE_DOCUMENT: dict[str, Any] = {
    "@context": [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"lodestone": "urn:lodestone:epcis:1:"},
    ],
    "type": "EPCISQueryDocument",
    "schemaVersion": "2.0",
    "creationDate": "2025-06-03T00:00:00Z",
    "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": [EXAMPLE_EVENT]}}},
}
DOCUMENT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An EPCIS 2.0 `EPCISQueryDocument` (JSON-LD). Quantities are exact JSON numbers.",
        "content": {media: {"schema": {"type": "object"}, "example": EXAMPLE_DOCUMENT} for media in (LD_JSON, JSON)},
    }
}


def _answer(request: Request, document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """The document as ``application/ld+json`` when the client lists that before ``application/json``."""
    accepted = [part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
    media = JSON
    for item in accepted:
        if item in (LD_JSON, JSON):
            media = item
            break
    return Response(content=jsonio.dumps(document), media_type=media, headers=headers)


def _times(name: str) -> Any:
    bound = "At or after" if name.startswith("GE_") else "Before"
    moment = f"{bound} this moment (RFC 3339, with offset)."
    return Query(alias=name, description=moment, examples=["2025-06-01T00:00:00Z"])


PIPE = " Several values separated by `|` match any of them."
CLASS_HELP = "Exact epcClass, or a prefix ending in `*`." + PIPE
PLACE_HELP = "A location in any form naming the facility (Digital Link GLN, SGLN, Lodestone URI)." + PIPE


@router.get(
    "/epcis/events",
    summary="Query events as EPCIS (SimpleEventQuery)",
    response_class=Response,
    responses=problems(422) | DOCUMENT_RESPONSE,
)
def query_epcis_events(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: MaterialReader,
    event_type: Annotated[
        str | None,
        Query(
            alias="eventType", description="ObjectEvent and/or TransformationEvent." + PIPE, examples=["ObjectEvent"]
        ),
    ] = None,
    ge_event_time: Annotated[UtcTimestamp | None, _times("GE_eventTime")] = None,
    lt_event_time: Annotated[UtcTimestamp | None, _times("LT_eventTime")] = None,
    ge_record_time: Annotated[UtcTimestamp | None, _times("GE_recordTime")] = None,
    lt_record_time: Annotated[UtcTimestamp | None, _times("LT_recordTime")] = None,
    eq_biz_step: Annotated[
        str | None,
        Query(
            alias="EQ_bizStep",
            description="A CBV bizStep, bare (`shipping`) or as its URI." + PIPE,
            examples=["commissioning|https://ref.gs1.org/cbv/BizStep-shipping"],
        ),
    ] = None,
    eq_biz_location: Annotated[
        str | None,
        Query(alias="EQ_bizLocation", description=PLACE_HELP, examples=["https://id.gs1.org/414/9520000000011"]),
    ] = None,
    eq_read_point: Annotated[
        str | None,
        Query(alias="EQ_readPoint", description=PLACE_HELP, examples=["urn:lodestone:facility/MTW"]),
    ] = None,
    match_epc_class: Annotated[str | None, Query(alias="MATCH_epcClass", description=CLASS_HELP)] = None,
    match_input_epc_class: Annotated[str | None, Query(alias="MATCH_inputEPCClass", description=CLASS_HELP)] = None,
    match_output_epc_class: Annotated[str | None, Query(alias="MATCH_outputEPCClass", description=CLASS_HELP)] = None,
    match_any_epc_class: Annotated[
        str | None, Query(alias="MATCH_anyEPCClass", description=CLASS_HELP, examples=["urn:lodestone:lot/LYNAS/*"])
    ] = None,
    eq_event_id: Annotated[str | None, Query(alias="EQ_eventID", description="The eventID." + PIPE)] = None,
    exists_error_declaration: Annotated[
        Literal["", "true", "false"] | None,
        Query(
            alias="EXISTS_errorDeclaration",
            description="`true` (or empty): only error declarations of voided events; `false`: only the events.",
        ),
    ] = None,
    eq_transformation_id: Annotated[
        str | None, Query(alias="EQ_transformationID", description="The transformationID." + PIPE)
    ] = None,
    per_page: Annotated[
        int, Query(alias="perPage", ge=1, le=MAX_PER_PAGE, description="Events per page (1 to 500).")
    ] = DEFAULT_PER_PAGE,
    next_page_token: Annotated[
        str | None,
        Query(alias="nextPageToken", description='From the `Link: <…>; rel="next"` of the previous page.'),
    ] = None,
) -> Response:
    """Recorded events as GS1 EPCIS 2.0 events, filtered by GS1's SimpleEventQuery parameters, oldest first.

    Extraction and receipt are ObjectEvents, processing and transfer TransformationEvents (MAPPING.md); a
    voided event appears twice, the second time with `errorDeclaration`. Events captured from EPCIS come back
    exactly as sent. The next page is in the `Link` header (`rel="next"`); there are no totals. An unknown
    parameter or a bad page token is 422 (GS1 would answer 400). Admin and auditor keys see every event.
    Other keys see the events at their organization's facilities all of whose lots their organization
    holds: an EPCIS event cannot hide another organization's lots, so a transfer between two organizations
    is given to neither.
    """
    check_parameters(request.query_params.keys())
    after = decode_token(next_page_token)
    base = settings.epcis_id_base
    types = pipe_values(event_type)
    if types is not None:
        for kind in types:
            if kind not in GS1_EVENT_TYPES:
                raise invalid("eventType", f"{kind!r} is not an EPCIS event type")
    classes = {
        name: tuple(values)
        for name, values in (
            ("MATCH_epcClass", pipe_values(match_epc_class)),
            ("MATCH_inputEPCClass", pipe_values(match_input_epc_class)),
            ("MATCH_outputEPCClass", pipe_values(match_output_epc_class)),
            ("MATCH_anyEPCClass", pipe_values(match_any_epc_class)),
        )
        if values is not None
    }
    assert set(classes) <= set(EPC_CLASS_LISTS)
    steps = pipe_values(eq_biz_step)
    locations = pipe_values(eq_biz_location)
    read_points = pipe_values(eq_read_point)
    ids = pipe_values(eq_event_id)
    transformations = pipe_values(eq_transformation_id)
    query = EventQuery(
        event_types=None if types is None else frozenset(types),
        ge_event_time=ge_event_time,
        lt_event_time=lt_event_time,
        ge_record_time=ge_record_time,
        lt_record_time=lt_record_time,
        biz_steps=None if steps is None else frozenset(cbv_word(step, "BizStep") or step for step in steps),
        biz_location=None if locations is None else resolve_places(session, "EQ_bizLocation", locations, base),
        read_point=None if read_points is None else resolve_places(session, "EQ_readPoint", read_points, base),
        epc_classes=classes,
        event_ids=None if ids is None else frozenset(ids),
        error_declaration=None if exists_error_declaration is None else exists_error_declaration != "false",
        transformation_ids=None if transformations is None else frozenset(transformations),
    )
    events, next_key = run_query(session, query, actor, base, per_page, after)
    headers = None
    if next_key is not None:
        url = request.url.include_query_params(nextPageToken=encode_token(next_key))
        headers = {"Link": f'<{url}>; rel="next"'}
    return _answer(request, query_document(events), headers)


@router.get(
    "/epcis/events/{eventID:path}",
    summary="Get one event as EPCIS",
    response_class=Response,
    responses=problems(404) | DOCUMENT_RESPONSE,
)
def get_epcis_event(
    request: Request,
    event_id: Annotated[
        str,
        Path(
            alias="eventID",
            description="The eventID, URL-encoded: `urn:uuid:{event id}`, or the one a captured event was sent with.",
            examples=["urn:uuid:6f1c2b1e-8d1a-4c55-9a57-2f0f4f1d2a11"],
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
    actor: MaterialReader,
) -> Response:
    """One event as an EPCIS 2.0 query document, followed by its error declaration when it was voided.

    An unknown event, or one the key is not given (as in `GET /v1/epcis/events`), is 404.
    """
    events = find_event(session, event_id, actor, settings.epcis_id_base)
    if not events:
        raise NotFound(f"No event has the eventID {event_id!r}.")
    return _answer(request, query_document(events))


@router.get("/epcis/eventTypes", summary="EPCIS event types exported", responses=problems())
def list_epcis_event_types(_actor: MaterialReader) -> list[str]:
    """The EPCIS event types exported: extraction and receipt are ObjectEvents, the others TransformationEvents."""
    return list(EVENT_TYPES)


@router.get(
    "/lots/{id}/epcis",
    summary="Export a lot's trace as EPCIS",
    response_class=Response,
    responses=problems(404, 422) | DOCUMENT_RESPONSE,
)
def export_lot_epcis(
    request: Request,
    id: LotId,
    session: SessionDep,
    settings: SettingsDep,
    actor: MaterialReader,
    direction: Annotated[
        Literal["upstream", "downstream"], Query(description="Where the lot came from, or what became of it.")
    ] = "upstream",
) -> Response:
    """Every event that led to this lot (upstream) or that it went into (downstream), as one EPCIS 2.0 document.

    Events come in the order they were recorded, voided ones followed by their error declaration. The walk
    covers the events the key is given in `GET /v1/epcis/events` and stops where it would leave them: a
    transfer between two organizations is given only to admin and auditor keys. Another organization's lot
    is 404, as in `GET /v1/lots/{id}`.
    """
    events = trace_events(session, id, direction, actor, settings.epcis_id_base)
    return _answer(request, query_document(events))
