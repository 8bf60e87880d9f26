"""Compliance: what each rule (DFARS 252.225-7052, MOFCOM No. 18/61...) answers for a lot or a SKU on a date."""

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Query, Request, Response

from service import judging, knowledge
from service.answer_memo import AnswerMemo
from service.api.catalog import SkuPath
from service.api.common import AsOf, problems, v1_router
from service.api.deps import Reader, SessionDep, run_database_work
from service.api.lots import LotId
from service.api.remembered import Pinned, answered
from service.errors import invalid
from service.schemas import ComplianceRead

router = v1_router("answers")


RuleIds = Annotated[
    str | None,
    Query(
        description="Comma-separated rule ids, no repeats; default every rule with a version on the date.",
        examples=["dfars-7052,mofcom-18"],
    ),
]
On = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="The date (YYYY-MM-DD) whose rules and prices apply; "
          "default today (UTC).", examples=["2027-01-01"]),
]  # fmt: skip
LotsLimit = Annotated[int, Query(ge=0, le=1000, description="List at most this many judged lots (worst first).")]


def day_of(on: str | None) -> date:
    """The date of the `on` parameter (422 when it is not one), or today (UTC) when it is not given."""
    if on is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(on)
    except ValueError:
        raise invalid("on", f"{on!r} is not a calendar date") from None


@router.get("/lots/{id}/compliance", summary="Answer the rules for a lot", responses=problems(404, 422))
def lot_compliance(
    id: LotId,
    session: SessionDep,
    actor: Reader,
    rules: RuleIds = None,
    on: On = None,
    lots_limit: LotsLimit = 100,
    as_of: AsOf = None,
) -> ComplianceRead:
    """What each rule (DFARS, MOFCOM...) answers for this lot on a date: yes, no or unknown, why, and how much.

    Another organization's lot is not found (404), as on `GET /v1/lots/{id}`, unless the key is an admin's or an
    auditor's; the lots judged upstream that the key may not see are listed without `id` or `code`.
    """
    day = day_of(on)
    moment = knowledge.moment(as_of)
    answer = judging.lot_compliance(session, id, rules, day, lots_limit, as_of, actor)
    return knowledge.echoed(answer, as_of, moment)


@router.get(
    "/skus/{sku}/compliance",
    summary="Answer the rules for a SKU",
    response_model=ComplianceRead,
    responses=problems(404, 422),
)
async def sku_compliance(
    request: Request,
    sku: SkuPath,
    session: SessionDep,
    actor: Reader,
    rules: RuleIds = None,
    on: On = None,
    lots_limit: LotsLimit = 100,
    as_of: AsOf = None,
) -> Response:
    """What each rule (DFARS, MOFCOM...) answers for this SKU on a date: the worst of its production lots.

    Any key may ask. The judged lots the key may not see (another organization's, unless the key is an admin's or
    an auditor's) are listed with their organization, answer and percents, a null `id` and `code`, and reasons
    that name no code.
    """
    day = day_of(on)
    moment = knowledge.moment(as_of)
    # Remembered like the plain answer: under the SKU's revision, and the prices and rules as they are now.
    # A remembered answer is given at once; one not yet known is worked out in a thread (the plain answer's way).
    sku_pk, revisions = await run_database_work(request, judging.sku_revisions, session, sku, as_of)
    key = ("compliance", sku, rules, day, lots_limit, as_of, *revisions)
    memo: AnswerMemo[ComplianceRead] = request.app.state.compliance

    def compute() -> ComplianceRead:
        return judging.sku_compliance(session, sku, sku_pk, rules, day, lots_limit, as_of)

    answer = await memo.remembered(key, compute)
    # Remembered whole for every caller; what this caller may not see is hidden from its copy only, and its
    # bytes are remembered for the same request from callers who see the same (see ``remembered``).
    shown = judging.as_seen_by(knowledge.echoed(answer, as_of, moment), actor)
    pinned = Pinned.to(request.app.state.engine, judging.revisions_query(sku, as_of), (sku_pk, *revisions))
    return answered(request, shown, pinned, moment, as_of, memo.counters)
