"""The catalogue: every SKU with its short answer to one question, a page at a time, for a portal's table.

Worked out on every page, a table of 500 SKUs is 500 SKU answers; remembered per worker
(``answer_memo``, 512 answers), 10,000 SKUs do not fit and each worker works them out again. So
each SKU's short answer (an ``OriginSummary``, or a ``RuleSummary`` per rule) is kept in the
``sku_answer`` table under a hash of the question, with the revision it was worked out at: the
SKU's revision (new in every transaction that records or voids one of its lots,
``skus.touch_skus``) followed, for the rules' answers, by the prices' and custom rules' revision
(their count and newest key: both are only ever added to, so whatever a transaction sees of them
is named by it, even when keys commit out of order). The revisions are read before what the
answer is worked out from, so an answer is never kept under a revision newer than its data.

A page is one query: the SKUs after the cursor, each with its kept row whose revision is current
(a filter on the answer is applied to those rows in SQL). Only the other SKUs, the misses, are
worked out, by the functions the per-SKU routes use, at most ``MISSES_PER_PAGE`` a page (a page
then ends early, with a cursor), and kept by ``remember`` in a transaction of its own. A kept
summary is JSON text spliced into the page as it is, with no model built per row (``_item``).
The speed this buys is the bench row "Catalogue answers" (scripts/bench.py).
"""

import hashlib
import json
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col

from service import assessments, judging
from service.db import transaction, utcnow
from service.errors import invalid
from service.models import CustomRule, Organization, Price, Sku
from service.organizations import is_organization
from service.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from service.questions import Question
from service.schemas import RuleResult
from service.schemas.portfolio import ComplianceSummary, OriginSummary, RuleSummary

log = logging.getLogger("lodestone")

MISSES_PER_PAGE = MAX_LIMIT  # answers worked out for one page at most: a cold page of 500 is still one page
# Part of every question's hash: bump it when a summary's fields or how an answer is worked out change,
# so that rows kept by an older release are misses, not answers.
SUMMARY_FORMAT = 1
KEEP_FOR = timedelta(days=7)  # a kept answer not worked out again since is dropped when its SKU's next one is kept

S = TypeVar("S", ComplianceSummary, OriginSummary)


@dataclass(frozen=True)
class CatalogueSku:
    """A listed SKU as the page's query reads it, with its kept summary if that is current."""

    pk: int
    sku: str
    name: str
    organization: str
    revision: str
    summary: str | None


@dataclass(frozen=True)
class Listing(Generic[S]):
    """A catalogue question: the hash and revision its answers are kept under, and how a missing one is worked out."""

    question: str
    catalog_revision: str  # follows the SKU's revision in a kept row's ``revision``
    work_out: Callable[[Session, CatalogueSku], S]
    path: Callable[[str], str]  # a SKU's full answer to the question
    answers: Callable[[S], list[str]]  # what a filter can match: "yes", and "dfars-7052=yes" per rule
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class CataloguePage:
    items: list[str]  # each as JSON text: ``SkuComplianceItem`` or ``SkuOriginItem``, fields in order
    next_cursor: str | None
    remembered: list[dict[str, Any]]  # the rows of the answers worked out for this page, for ``remember``

    def json(self) -> bytes:
        """The page as the body of a list: ``{"items": [...], "next_cursor": ...}``."""
        return f'{{"items":[{",".join(self.items)}],"next_cursor":{json.dumps(self.next_cursor)}}}'.encode()


def _item(sku: CatalogueSku, summary: str, path: str) -> str:
    """A listed SKU as JSON text: its code, name and owner, the summary's fields as kept, its answer's path.

    Splicing the kept text instead of building a model per row (and the page's model) is most of a page's
    time saved (bench row "Catalogue answers"); the tests hold every item to its schema.
    """
    head = json.dumps({"sku": sku.sku, "name": sku.name, "organization": sku.organization}, separators=(",", ":"))
    return f'{head[:-1]},{summary[1:-1]},"answer_path":{json.dumps(path)}}}'


def _hash(*question: object) -> str:
    text = json.dumps([SUMMARY_FORMAT, *question], separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _paths(route: str, query: dict[str, str]) -> Callable[[str], str]:
    """Each SKU's path to its full answer to the question asked (the query written once for every SKU)."""
    asked = f"?{urllib.parse.urlencode(query, safe=',:')}" if query else ""
    return lambda sku: f"/v1/skus/{urllib.parse.quote(sku, safe=':')}/{route}{asked}"


# What the rules' answers depend on besides the SKU's lots: the prices and custom rules, only ever added to.
_CATALOG_REVISION = sa.select(
    sa.select(sa.func.count()).select_from(Price).scalar_subquery(),
    sa.select(sa.func.max(col(Price.pk))).scalar_subquery(),
    sa.select(sa.func.count()).select_from(CustomRule).scalar_subquery(),
    sa.select(sa.func.max(col(CustomRule.pk))).scalar_subquery(),
)


def _rule_summary(result: RuleResult) -> RuleSummary:
    return RuleSummary(
        rule=result.rule,
        title=result.title,
        version=result.version,
        in_force=result.in_force,
        answer=result.answer,
        share_percent=result.share_percent,
        unknown_percent=result.unknown_percent,
        lots_count=result.lots_count,
    )


def compliance_listing(session: Session, rules: str | None, on: date) -> Listing[ComplianceSummary]:
    """The rules' answers on ``on`` (``rules`` as ``/skus/{sku}/compliance`` takes them): an unknown rule is 422."""
    price_count, price_max, rule_count, rule_max = session.connection().execute(_CATALOG_REVISION).one()
    catalog_revision = f"/{price_count}.{price_max}.{rule_count}.{rule_max}"
    chosen = judging.rules_on(session, rules, on)
    prices = judging.prices_on(session, on)
    # The rules as tested, not only their ids: a changed rule (a new release's rules.json) is another question.
    question = _hash("compliance", on.isoformat(), [(rule.id, rule.title, repr(version)) for rule, version in chosen])
    query = {"on": on.isoformat()} | ({"rules": ",".join(rule.id for rule, _ in chosen)} if rules is not None else {})

    def work_out(session: Session, sku: CatalogueSku) -> ComplianceSummary:
        lots = judging.production_lots(session, sku.pk)
        name = f"SKU {sku.sku}"
        return ComplianceSummary(
            results=[
                _rule_summary(judging.rule_result(session, rule, version, lots, name, True, on, prices, 0))
                for rule, version in chosen
            ]
        )

    def answers(summary: ComplianceSummary) -> list[str]:
        return [r.answer for r in summary.results] + [f"{r.rule}={r.answer}" for r in summary.results]

    ids = tuple(rule.id for rule, _ in chosen)
    return Listing(question, catalog_revision, work_out, _paths("compliance", query), answers, ids)


def origin_listing(question: Question, asked: dict[str, str | None]) -> Listing[OriginSummary]:
    """The plain question's answers; ``asked`` is the query as given, repeated in each item's ``answer_path``."""
    query = {name: value for name, value in asked.items() if value is not None}

    def work_out(session: Session, sku: CatalogueSku) -> OriginSummary:
        asked_sku = assessments.SkuQuestion(sku.sku, sku.pk, sku.revision, question, lots_limit=0)
        answer = assessments.assess_sku(session, asked_sku)
        return OriginSummary(
            answer=answer.answer,
            share_percent=answer.share_percent,
            unknown_percent=answer.unknown_percent,
            total_kg=answer.total_kg,
            lots_count=answer.lots_count or 0,
        )

    def answers(summary: OriginSummary) -> list[str]:
        return [summary.answer]

    return Listing(_hash("origin", *question.key), "", work_out, _paths("origin", query), answers)


def _match(listing: Listing[S], answer: str | None, rule: str | None) -> str | None:
    """What a listed SKU's answers must include: ``answer``, or ``rule=answer`` for one rule's."""
    if rule is None:
        return answer
    if answer is None:
        raise invalid("rule", "filters on one rule's answer: give `answer` too")
    found = next((known for known in listing.rules if known.lower() == rule.lower()), None)
    if found is None:
        raise invalid("rule", f"{rule!r} is not one of the rules answered: {', '.join(listing.rules) or 'none'}")
    return f"{found}={answer}"


def _kept_answers(listing: Listing[S]) -> Any:
    kept = SQLModel.metadata.tables["sku_answer"]
    revision = col(Sku.revision) + listing.catalog_revision if listing.catalog_revision else col(Sku.revision)
    on = sa.and_(kept.c.sku_pk == col(Sku.pk), kept.c.question == listing.question, kept.c.revision == revision)
    return kept, on


def _skus(
    session: Session, listing: Listing[S], after: str | None, match: str | None, owner: str | None, count: int
) -> list[CatalogueSku]:
    """The next ``count`` SKUs by code after ``after`` with their current kept summaries, those kept not matching
    ``match`` left out (as ``GET /v1/skus`` lists them: every key lists every SKU)."""
    kept, on = _kept_answers(listing)
    query = (
        sa.select(col(Sku.pk), col(Sku.sku), col(Sku.name), col(Organization.code), col(Sku.revision), kept.c.summary)
        .join(Organization, col(Sku.organization_pk) == col(Organization.pk))
        .outerjoin(kept, on)
        .order_by(col(Sku.sku))
        .limit(count)
    )
    if after is not None:
        query = query.where(col(Sku.sku) > after)
    if owner is not None:
        query = query.where(is_organization(owner))
    if match is not None:
        query = query.where(sa.or_(kept.c.summary.is_(None), kept.c.answers.contains(f"|{match}|", autoescape=True)))
    return [CatalogueSku(*row) for row in session.execute(query)]


def page(
    session: Session,
    listing: Listing[S],
    limit: int,
    cursor: str | None,
    answer: str | None = None,
    rule: str | None = None,
    owner: str | None = None,
    misses: int = MISSES_PER_PAGE,
) -> CataloguePage:
    """One page of the listing by SKU code: up to ``limit`` SKUs whose answers match the filter, with a cursor
    after the last SKU looked at when there may be more.

    A page that has worked out ``misses`` answers ends there, perhaps short of ``limit``.
    """
    after = decode_cursor(cursor, str)
    match = _match(listing, answer, rule)
    items: list[str] = []
    remembered: list[dict[str, Any]] = []
    while True:
        skus = _skus(session, listing, after, match, owner, limit + 1)
        for sku in skus:
            if len(items) == limit or (sku.summary is None and len(remembered) == misses):
                return CataloguePage(items, encode_cursor(after) if after is not None else None, remembered)
            summary = sku.summary  # kept rows were filtered in SQL
            if summary is None:
                worked_out = listing.work_out(session, sku)
                summary = worked_out.model_dump_json()
                answers = listing.answers(worked_out)
                remembered.append(_row(listing, sku, summary, answers))
                if match is not None and match not in answers:
                    summary = None
            after = sku.sku
            if summary is not None:
                items.append(_item(sku, summary, listing.path(sku.sku)))
        if len(skus) <= limit:
            return CataloguePage(items, None, remembered)


def _row(listing: Listing[S], sku: CatalogueSku, summary: str, answers: Sequence[str]) -> dict[str, Any]:
    return {
        "sku_pk": sku.pk,
        "question": listing.question,
        "revision": sku.revision + listing.catalog_revision,
        "answers": "|" + "|".join(sorted(set(answers))) + "|",
        "summary": summary,
        "computed_at": utcnow(),
    }


def remember(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Keep the answers a page worked out, in a transaction of its own, replacing what was kept for the question.

    The same SKUs' rows worked out more than ``KEEP_FOR`` ago go: a question asked once (``on`` defaults to
    today, a new question every day) is not kept for ever. In SKU order, so two pages writing the same rows
    queue instead of deadlocking. Keeping is an optimization: a database too busy to take the rows now (a lock
    not granted in time) only means they are worked out again.
    """
    if not rows:
        return
    kept = SQLModel.metadata.tables["sku_answer"]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(kept)
    statement = statement.on_conflict_do_update(
        index_elements=[kept.c.sku_pk, kept.c.question],
        set_={name: statement.excluded[name] for name in ("revision", "answers", "summary", "computed_at")},
    )
    try:
        with transaction(engine, write=True) as session:
            skus = sorted({row["sku_pk"] for row in rows})
            session.execute(sa.delete(kept).where(kept.c.sku_pk.in_(skus), kept.c.computed_at < utcnow() - KEEP_FOR))
            session.execute(statement, sorted(rows, key=lambda row: row["sku_pk"]))
    except sa.exc.OperationalError as exc:
        log.warning("catalogue answers not kept (they will be worked out again): %s", exc.orig)
