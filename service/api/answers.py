"""Answers: the question buyers and customs lawyers ask, for one lot or for a SKU."""

from typing import Annotated

from fastapi import Query, Request, Response

from service import assessments, knowledge, skus
from service.answer_memo import AnswerMemo
from service.api.catalog import SkuPath
from service.api.common import AsOf, problems, v1_router
from service.api.deps import Reader, SessionDep, run_database_work
from service.api.lots import LotId
from service.api.remembered import Pinned, answered
from service.errors import invalid
from service.questions import Question
from service.schemas import AssessmentRead, UtcTimestamp

router = v1_router("answers")

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
Elements = Annotated[
    str | None,
    Query(
        description="Comma-separated element symbols, no repeats (not `REE`): only they count as touching the "
        "countries, and `REE` where they might counts as unknown. Default: every rare earth.",
        examples=["Dy,Tb"],
    ),
]
Threshold = Annotated[
    str | None,
    Query(description="Percent from 0 to 100; `yes` needs a share above it. Default 0.", examples=["0.1"]),
]


@router.get("/lots/{id}/origin", summary="Ask the question for a lot", responses=problems(404, 422))
async def assess_lot(
    request: Request,
    id: LotId,
    session: SessionDep,
    actor: Reader,
    countries: Countries = None,
    stages: Stages = None,
    threshold_percent: Threshold = None,
    elements: Elements = None,
    as_of: AsOf = None,
) -> AssessmentRead:
    """Does this lot contain rare earths from these countries at these stages: yes, no, or unknown, and how much.

    Another organization's lot is not found (404), as on `GET /v1/lots/{id}`, unless the key is an admin's or an
    auditor's.
    """
    question = Question.parse(countries, stages, threshold_percent, elements)
    moment = knowledge.moment(as_of)
    answer = await run_database_work(request, assessments.assess_lot, session, id, question, as_of, actor)
    return knowledge.echoed(answer, as_of, moment)


@router.get(
    "/skus/{sku}/origin",
    summary="Ask the question for a SKU",
    response_model=AssessmentRead,
    responses=problems(404, 422),
)
async def assess_sku(
    request: Request,
    sku: SkuPath,
    session: SessionDep,
    actor: Reader,
    countries: Countries = None,
    stages: Stages = None,
    threshold_percent: Threshold = None,
    elements: Elements = None,
    produced_from: Annotated[UtcTimestamp | None, Query(description="Only lots made at or after this time.")] = None,
    produced_to: Annotated[UtcTimestamp | None, Query(description="Only lots made before this time.")] = None,
    lots_limit: Annotated[int, Query(ge=0, le=1000, description="List at most this many lots (worst first).")] = 100,
    as_of: AsOf = None,
) -> Response:
    """Does this SKU contain rare earths from these countries at these stages: the worst of its production lots.

    Any key may ask. Its lots the key may not see (another organization's, unless the key is an admin's or an
    auditor's) are listed with their organization, answer, percents and kilograms, and a null `id` and `code`.
    """
    question = Question.parse(countries, stages, threshold_percent, elements)
    moment = knowledge.moment(as_of)
    if produced_from and produced_to and produced_from >= produced_to:
        raise invalid("produced_to", "must be later than produced_from")
    # Asked again at the same revision, the answer is already known: give it without computing.
    # Otherwise it is computed from every production lot, in a thread so other requests go on.
    # As of a moment, the answer is remembered under that moment too; it is echoed, and is now when not asked.
    asked = await run_database_work(
        request, assessments.ask_sku, session, sku, question, produced_from, produced_to, lots_limit, as_of
    )
    memo: AnswerMemo[AssessmentRead] = request.app.state.answers
    answer = await memo.remembered(asked.key, lambda: assessments.assess_sku(session, asked))
    # Remembered whole for every caller; what this caller may not see is hidden from its copy only, and its
    # bytes are remembered for the same request from callers who see the same (see ``remembered``).
    shown = assessments.as_seen_by(knowledge.echoed(answer, as_of, moment), actor)
    pinned = Pinned.to(request.app.state.engine, skus.revision_query(sku, as_of), (asked.sku_pk, asked.revision))
    return answered(request, shown, pinned, moment, as_of, memo.counters)
