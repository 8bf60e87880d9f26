"""The catalogue: every SKU with its answer in one list, for a procurement portal's table."""

from collections.abc import Callable
from functools import partial
from typing import Annotated

from anyio import to_thread
from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from service import portfolio
from service.api.answers import Countries, Elements, Stages, Threshold
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router
from service.api.compliance import On, RuleIds, day_of
from service.api.deps import Reader, SessionDep
from service.pagination import DEFAULT_LIMIT
from service.questions import Question
from service.schemas import CODE_PATTERN, AnswerValue, Page
from service.schemas.portfolio import SkuComplianceItem, SkuOriginItem

router = v1_router("answers")

AnswerFilter = Annotated[
    AnswerValue | None,
    Query(description="Only SKUs with this answer (for the rules: from any rule, or from `rule`).", examples=["yes"]),
]
RuleFilter = Annotated[
    str | None,
    Query(description="With `answer`: only SKUs whose answer from this rule is `answer`.", examples=["dfars-7052"]),
]
Owner = Annotated[
    str | None, Query(pattern=CODE_PATTERN, description="Only this organization's SKUs.", examples=["ACME"])
]


async def _listed(
    request: Request,
    session: Session,
    listing: Callable[[Session], portfolio.Listing[portfolio.S]],
    limit: int,
    cursor: str | None,
    answer: str | None,
    rule: str | None,
    organization: str | None,
) -> Response:
    """A page of the listing, in one thread hop (it may work out answers); the answers it worked out are kept."""

    def work() -> portfolio.CataloguePage:
        return portfolio.page(session, listing(session), limit, cursor, answer, rule, organization)

    found = await run_in_threadpool(work)
    if found.remembered:
        limiter = request.app.state.side_connections
        await to_thread.run_sync(portfolio.remember, request.app.state.engine, found.remembered, limiter=limiter)
    return Response(found.json(), media_type="application/json")


@router.get(
    "/compliance",
    summary="List every SKU's rules' answers",
    response_model=Page[SkuComplianceItem],
    responses=problems(422),
)
async def list_compliance(
    request: Request,
    session: SessionDep,
    _actor: Reader,
    rules: RuleIds = None,
    on: On = None,
    answer: AnswerFilter = None,
    rule: RuleFilter = None,
    organization: Owner = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Every SKU, by code, with what each rule (DFARS, MOFCOM...) answers for it on a date: a portal's table.

    Each item is what `GET /v1/skus/{sku}/compliance` answers with the same `rules` and `on`, without the lots
    and reasons (`answer_path` is that answer). `answer=yes` lists the SKUs some rule answers yes for;
    with `rule`, that rule. A page has at most `limit` items, and may have fewer while `next_cursor` is not null.
    """
    listing = partial(portfolio.compliance_listing, rules=rules, on=day_of(on))
    return await _listed(request, session, listing, limit, cursor, answer, rule, organization)


@router.get("/origin", summary="List every SKU's answer", response_model=Page[SkuOriginItem], responses=problems(422))
async def list_origin(
    request: Request,
    session: SessionDep,
    _actor: Reader,
    countries: Countries = None,
    stages: Stages = None,
    threshold_percent: Threshold = None,
    elements: Elements = None,
    answer: AnswerFilter = None,
    organization: Owner = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Every SKU, by code, with its answer to the question (these countries at these stages): a portal's table.

    Each item is what `GET /v1/skus/{sku}/origin` answers with the same question, without lots, routes and
    breakdowns (`answer_path` is that answer). `answer=yes` lists only the SKUs that answer yes. A page has at
    most `limit` items, and may have fewer while `next_cursor` is not null.
    """
    question = Question.parse(countries, stages, threshold_percent, elements)
    asked = {"countries": countries, "stages": stages, "threshold_percent": threshold_percent, "elements": elements}
    listing = portfolio.origin_listing(question, asked)
    return await _listed(request, session, lambda _: listing, limit, cursor, answer, None, organization)
