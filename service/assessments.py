"""Answering the question for a lot or a SKU from the origins stored with the lots.

No graph walk happens here: every lot's origin was computed when it was
recorded, so an answer reads the lots it is about and nothing upstream.
"""

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import knowledge, visibility
from service import origin as engine
from service.access import OPERATOR, Principal
from service.db import UTCDateTime, utcnow
from service.lots import get_lot_view, route_shares, stage_percents
from service.models import Lot, Organization
from service.numbers import format_kg, format_percent
from service.questions import Answer, Exposure, Question, Weighed, subject_answer, weigh, worst_first
from service.schemas import AssessmentRead, ElementBreakdown, LotAnswer
from service.skus import sku_revision


def _explain(name: str, answer: str, exposure: Exposure, question: Question) -> str:
    share = format_percent(exposure.share_percent)
    unknown = format_percent(exposure.unknown_percent)
    threshold = question.threshold_text()
    asked = question.describe()
    if not exposure.total:
        return f"{name} holds no rare earths, so none of them came from {asked}."
    kg = format_kg(exposure.total)
    if answer == "yes":
        return (
            f"{name}: {share} % of its {kg} kg of rare earths went through {asked}, "
            f"more than the {threshold} % threshold."
        )
    if answer == "unknown":
        return (
            f"{name}: {share} % of its {kg} kg of rare earths is shown to have gone through {asked}, "
            f"but for {unknown} % nobody has shown where an asked stage took place, "
            f"so it could cross the {threshold} % threshold."
        )
    return (
        f"{name}: {share} % of its {kg} kg of rare earths went through {asked}, "
        f"not more than the {threshold} % threshold, and the rest is shown to come from elsewhere."
    )


def _assessment(
    subject: dict[str, str],
    question: Question,
    answer: Answer,
    weighed: Weighed,
    explanation: str,
    as_of: datetime | None,
    lots: list[LotAnswer] | None = None,
    lots_count: int | None = None,
) -> AssessmentRead:
    exposure, routes = weighed.exposure, weighed.routes
    return AssessmentRead(
        subject=subject,
        countries=list(question.countries),
        stages=list(question.stages),
        threshold_percent=question.threshold_text(),
        elements=list(question.elements) if question.elements is not None else None,
        answer=answer,
        share_percent=format_percent(exposure.share_percent),
        unknown_percent=format_percent(exposure.unknown_percent),
        total_kg=format_kg(exposure.total),
        stages_breakdown=stage_percents(routes),
        routes=route_shares(routes),
        elements_breakdown={
            element: ElementBreakdown(
                kg=format_kg(found.total),
                share_percent=format_percent(found.share_percent),
                unknown_percent=format_percent(found.unknown_percent),
            )
            for element, found in weighed.elements.items()
        },
        lots=lots,
        lots_count=lots_count,
        explanation=explanation,
        as_of=as_of or utcnow(),
    )


def assess_lot(
    session: Session, lot_id: str, question: Question, as_of: datetime | None = None, actor: Principal = OPERATOR
) -> AssessmentRead:
    """The lot's answer from its stored origin; as of a moment, only a lot recorded by then has one.

    A lot the actor may not see is not found, exactly like one that does not exist.
    """
    view = get_lot_view(session, lot_id, actor)
    if as_of is not None and view.lot.recorded_at > as_of:
        raise knowledge.not_known(f"lot has the id {lot_id!r}", as_of)
    weighed = weigh([view.lot.origin], question)
    exposure = weighed.exposure
    answer = exposure.answer(question.threshold)
    subject = {"kind": "lot", "id": view.lot.id, "code": view.lot.code, "organization": view.organization}
    name = f"Lot {view.lot.code} of {view.organization}"
    return _assessment(subject, question, answer, weighed, _explain(name, answer, exposure, question), as_of)


@dataclass(frozen=True)
class ProductionLot:
    """What a SKU answer needs of one of its lots, read without loading the whole row."""

    id: str
    code: str
    organization: str
    origin: engine.StoredOrigin


def _production_lots_query(*, since: bool, until: bool, as_of: bool) -> Any:
    query = (
        sa.select(col(Lot.id), col(Lot.code), col(Organization.code), col(Lot.origin))
        .join(Organization, col(Lot.organization_pk) == Organization.pk)
        .where(col(Lot.sku_pk) == sa.bindparam("sku_pk"), col(Lot.is_production).is_(True))
        .where(*(knowledge.lots_known(knowledge.as_of_param()) if as_of else knowledge.lots_active(None)))
    )
    if since:
        query = query.where(col(Lot.occurred_at) >= sa.bindparam("since", type_=UTCDateTime()))
    if until:
        query = query.where(col(Lot.occurred_at) < sa.bindparam("until", type_=UTCDateTime()))
    return query.order_by(col(Lot.pk))


# Built once: a statement made per request costs more than the query it runs on a small SKU.
_PRODUCTION_LOTS = {
    (since, until, as_of): _production_lots_query(since=since, until=until, as_of=as_of)
    for since in (False, True)
    for until in (False, True)
    for as_of in (False, True)
}


def production_lots(
    session: Session,
    sku_pk: int,
    produced_from: datetime | None,
    produced_to: datetime | None,
    as_of: datetime | None = None,
) -> list[ProductionLot]:
    """The SKU's production lots in the window that are active (now, or at ``as_of``), in recorded order."""
    query = _PRODUCTION_LOTS[produced_from is not None, produced_to is not None, as_of is not None]
    parameters = {"sku_pk": sku_pk, "since": produced_from, "until": produced_to, "as_of": as_of}
    return [
        ProductionLot(lot_id, code, organization, origin)
        for lot_id, code, organization, origin in session.connection().execute(query, parameters)
    ]


@dataclass(frozen=True)
class SkuQuestion:
    """A SKU question pinned to the SKU's revision as this transaction read it."""

    sku: str
    sku_pk: int
    revision: str
    question: Question
    produced_from: datetime | None = None
    produced_to: datetime | None = None
    lots_limit: int = 100
    as_of: datetime | None = None

    @cached_property
    def key(self) -> Hashable:
        window = (self.produced_from, self.produced_to)
        return (self.revision, self.sku, *self.question.key, *window, self.lots_limit, self.as_of)


def ask_sku(
    session: Session,
    sku: str,
    question: Question,
    produced_from: datetime | None = None,
    produced_to: datetime | None = None,
    lots_limit: int = 100,
    as_of: datetime | None = None,
) -> SkuQuestion:
    """The question about a SKU that exists (at ``as_of``), pinned to the revision this transaction reads."""
    sku_pk, revision = sku_revision(session, sku, as_of)
    return SkuQuestion(sku, sku_pk, revision, question, produced_from, produced_to, lots_limit, as_of)


def assess_sku(session: Session, asked: SkuQuestion) -> AssessmentRead:
    """The worst answer of the SKU's production lots; percentages mass-weighted over them (computed afresh)."""
    lots = production_lots(session, asked.sku_pk, asked.produced_from, asked.produced_to, asked.as_of)
    windowed = bool(asked.produced_from or asked.produced_to)
    return _assess_lots(asked.sku, asked.question, lots, asked.lots_limit, asked.as_of, windowed=windowed)


def as_seen_by(answer: AssessmentRead, actor: Principal) -> AssessmentRead:
    """The answer as ``actor`` may read it: the lots it may not see listed without id or code.

    Applied per request to the answer as remembered (which stays whole, shared by every caller): an
    answer with nothing to hide is the same object, and only one with something to hide is copied.
    """
    shown = visibility.lots_seen_by(answer.lots or [], actor)
    return answer if shown is None else answer.model_copy(update={"lots": shown})


def _assess_lots(
    sku: str,
    question: Question,
    lots: list[ProductionLot],
    lots_limit: int,
    as_of: datetime | None,
    *,
    windowed: bool,
) -> AssessmentRead:
    weighed = weigh((lot.origin for lot in lots), question)
    exposure = weighed.exposure
    threshold = question.threshold
    answers = [
        LotAnswer(
            id=lot.id,
            code=lot.code,
            organization=lot.organization,
            answer=lot_exposure.answer(threshold),
            share_percent=format_percent(lot_exposure.share_percent),
            unknown_percent=format_percent(lot_exposure.unknown_percent),
            total_kg=format_kg(lot_exposure.total),
        )
        for lot, lot_exposure in zip(lots, weighed.lots, strict=True)
    ]
    answer = subject_answer(a.answer for a in answers)
    counts = Counter(a.answer for a in answers)
    if not answers:
        explanation = (
            f"SKU {sku} has no production lots recorded{' in this window' if windowed else ''}, "
            "so nobody has shown where its rare earths came from."
        )
    else:
        which = (
            "its one production lot answers"
            if len(answers) == 1
            else f"{counts[answer]} of its {len(answers)} production lots answer"
        )
        explanation = (
            f"SKU {sku} answers {answer} because {which} {answer} for {question.describe()}; over all of them, "
            f"{format_percent(exposure.share_percent)} % of {format_kg(exposure.total)} kg of rare earths "
            f"is shown to have gone there and {format_percent(exposure.unknown_percent)} % is unknown."
        )
    # Worst first, so a portal showing the first page shows what decides the answer; stable within a class.
    shown = [answers[i] for i in worst_first([a.answer for a in answers])[:lots_limit]]
    subject = {"kind": "sku", "sku": sku}
    return _assessment(subject, question, answer, weighed, explanation, as_of, shown, len(answers))
