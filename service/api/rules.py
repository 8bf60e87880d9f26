"""Compliance rules: the built-in ones of rules.json and the custom ones an admin adds."""

from typing import Annotated

from fastapi import Body, Path, Query

from service import rules
from service.api.common import problems, v1_router, write_problems
from service.api.deps import Admin, Reader, SessionDep, WriteContextDep
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, paginate
from service.schemas import RULE_EXAMPLE, Page, RuleCreate, RuleRead

router = v1_router("rules")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 500.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
RuleId = Annotated[str, Path(description="The rule's id.", examples=["dfars-7052"])]
RULE_EXAMPLES = {"dfars": {"summary": "DFARS 252.225-7052 read as a buyer's own rule", "value": RULE_EXAMPLE}}


@router.get("/rules", summary="List rules", responses=problems(422))
def list_rules(
    session: SessionDep, _actor: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[RuleRead]:
    """List the compliance rules, built-in and custom, by id (ASCII order), each with its dated versions."""
    after = decode_cursor(cursor, str)
    listed = [rule for rule in rules.list_rules(session) if after is None or rule.id > after]
    page, next_cursor = paginate(listed[: limit + 1], limit, lambda rule: rule.id)
    return Page(items=[rules.to_read(rule) for rule in page], next_cursor=next_cursor)


@router.get("/rules/{id}", summary="Get a rule", responses=problems(404))
def get_rule(id: RuleId, session: SessionDep, _actor: Reader) -> RuleRead:
    """One compliance rule: who issued it, where it is written, and each version's test and dates."""
    return rules.to_read(rules.get_rule(session, id))


@router.post(
    "/rules",
    status_code=201,
    summary="Add a custom rule",
    responses=write_problems("A rule, built-in or custom, already has this id."),
)
def create_rule(
    body: Annotated[RuleCreate, Body(openapi_examples=RULE_EXAMPLES)],
    session: SessionDep,
    _actor: Admin,
    context: WriteContextDep,
) -> RuleRead:
    """Add a custom rule (admin keys only): checked whole, then its id; never edited, a new reading is a new rule."""
    return rules.to_read(rules.create_rule(session, body, context))
