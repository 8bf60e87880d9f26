"""Lots and answers: where each lot's rare earths came from, and the SKU question."""

from typing import Annotated, Literal

from fastapi import Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from service import assessments, lots, trace
from service.api.catalog import Cursor, Limit, SkuPath
from service.api.common import parse_question, problems, v1_router
from service.api.deps import MaterialReader, Reader, SessionDep
from service.errors import invalid
from service.pagination import DEFAULT_LIMIT
from service.schemas import CODE_PATTERN, AssessmentRead, LotRead, Material, Page, TraceRead, UtcTimestamp

router = v1_router("lots")
answer_router = v1_router("answers")

LotId = Annotated[str, Path(description="The lot's id (a UUID).", examples=["0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77"])]
Countries = Annotated[
    str | None,
    Query(description="Comma-separated ISO 3166-1 alpha-2 codes; default `CN`.", examples=["CN,RU,KP,IR"]),
]
Stages = Annotated[
    str | None,
    Query(
        description="Comma-separated stages; default `mining,refining,metal_making,magnet_making`.",
        examples=["mining,refining"],
    ),
]
Threshold = Annotated[
    str | None,
    Query(description="Percent from 0 to 100; `yes` needs a share above it. Default 0.", examples=["0.1"]),
]


@router.get("/lots", summary="List lots", responses=problems(422))
def list_lots(
    session: SessionDep,
    _actor: MaterialReader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    organization: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Held by this organization.")] = None,
    facility: Annotated[str | None, Query(pattern=CODE_PATTERN, description="At this facility.")] = None,
    sku: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Units of this SKU.")] = None,
    code: Annotated[str | None, Query(pattern=CODE_PATTERN, description="With this lot code.")] = None,
    material: Annotated[Material | None, Query(description="Of this material.")] = None,
) -> Page[LotRead]:
    """List lots in the order they were recorded, with their origin."""
    return lots.list_lots(
        session, limit, cursor, organization=organization, facility=facility, sku=sku, code=code, material=material
    )


@router.get("/lots/{id}", summary="Get a lot and its origin", responses=problems(404, 422))
def get_lot(
    id: LotId,
    session: SessionDep,
    _actor: MaterialReader,
    elements: Annotated[bool, Query(description="Also break the origin down per element.")] = False,
) -> LotRead:
    """One lot: what it is, how much is left, and where its rare earths came from at every stage."""
    return lots.get_lot_view(session, id).read(elements=elements)


@answer_router.get("/lots/{id}/origin", summary="Ask the question for a lot", responses=problems(404, 422))
async def assess_lot(
    id: LotId,
    session: SessionDep,
    _actor: Reader,
    countries: Countries = None,
    stages: Stages = None,
    threshold_percent: Threshold = None,
) -> AssessmentRead:
    """Does this lot contain rare earths from these countries at these stages: yes, no, or unknown, and how much."""
    # One stored origin, read and summed: less work than a hop to the thread pool and back.
    return assessments.assess_lot(session, id, parse_question(countries, stages, threshold_percent))


@router.get("/lots/{id}/trace", summary="Trace a lot upstream or downstream", responses=problems(404, 422))
def trace_lot(
    id: LotId,
    session: SessionDep,
    _actor: MaterialReader,
    direction: Annotated[
        Literal["upstream", "downstream"], Query(description="Where the lot came from, or what became of it.")
    ] = "upstream",
    max_depth: Annotated[int, Query(ge=1, le=100, description="How many events deep to walk.")] = 10,
) -> TraceRead:
    """The lots and events that led to this lot (upstream) or that it went into (downstream)."""
    return trace.trace_lot(session, id, direction, max_depth)


@answer_router.get("/skus/{sku}/origin", summary="Ask the question for a SKU", responses=problems(404, 422))
async def assess_sku(
    request: Request,
    sku: SkuPath,
    session: SessionDep,
    _actor: Reader,
    countries: Countries = None,
    stages: Stages = None,
    threshold_percent: Threshold = None,
    produced_from: Annotated[UtcTimestamp | None, Query(description="Only lots made at or after this time.")] = None,
    produced_to: Annotated[UtcTimestamp | None, Query(description="Only lots made before this time.")] = None,
    lots_limit: Annotated[int, Query(ge=0, le=1000, description="List at most this many lots (worst first).")] = 100,
) -> AssessmentRead:
    """Does this SKU contain rare earths from these countries at these stages: the worst of its production lots."""
    question = parse_question(countries, stages, threshold_percent)
    if produced_from and produced_to and produced_from >= produced_to:
        raise invalid("produced_to", "must be later than produced_from")
    # Asked again at the same revision, the answer is already known: give it on the event loop.
    # Otherwise it is computed from every production lot, in a thread so other requests go on.
    asked = assessments.ask_sku(session, sku, question, produced_from, produced_to, lots_limit)
    memo: assessments.AnswerMemo = request.app.state.answers
    remembered = memo.get(asked.key)
    if remembered is not None:
        return remembered
    return await run_in_threadpool(assessments.assess_sku, session, asked, memo)
