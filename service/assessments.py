"""Answering the question for a lot or a SKU from the origins stored with the lots.

No graph walk happens here: every lot's origin was computed when it was
recorded, so an answer reads the lots it is about and nothing upstream.
"""

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import origin as engine
from service.db import UTCDateTime
from service.lots import LotView, Parts, decode_origin, get_lot_view, route_shares, stage_percents, stored_route_parts
from service.models import Lot, Organization
from service.numbers import format_decimal, format_kg, format_percent
from service.schemas import AssessmentRead, LotAnswer
from service.skus import sku_revision

DEFAULT_COUNTRIES = ("CN",)
DEFAULT_STAGES = ("mining", "refining", "metal_making", "magnet_making")


@dataclass(frozen=True)
class Question:
    """Do the rare earths touch any of ``countries`` at any of ``stages``, above ``threshold_percent``?"""

    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    stages: tuple[str, ...] = DEFAULT_STAGES
    threshold_percent: Decimal = Decimal(0)

    @property
    def threshold(self) -> Fraction:
        return Fraction(self.threshold_percent)

    def describe(self) -> str:
        countries = " or ".join(self.countries)
        stages = ", ".join(s.replace("_", " ") for s in self.stages)
        return f"{countries} at any of these stages: {stages}"


def _lot_routes(view: LotView) -> dict[engine.Route, Fraction]:
    return engine.route_totals(decode_origin(view.lot.origin))


def _explain(name: str, answer: str, exposure: engine.Exposure, question: Question) -> str:
    share = format_percent(exposure.share_percent)
    unknown = format_percent(exposure.unknown_percent)
    threshold = format_decimal(question.threshold_percent)
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
    answer: engine.Answer,
    exposure: engine.Exposure,
    routes: dict[engine.Route, Fraction],
    explanation: str,
    lots: list[LotAnswer] | None = None,
    lots_count: int | None = None,
) -> AssessmentRead:
    return AssessmentRead(
        subject=subject,
        countries=list(question.countries),
        stages=list(question.stages),
        threshold_percent=format_decimal(question.threshold_percent),
        answer=answer,
        share_percent=format_percent(exposure.share_percent),
        unknown_percent=format_percent(exposure.unknown_percent),
        total_kg=format_kg(exposure.total),
        stages_breakdown=stage_percents(routes),
        routes=route_shares(routes),
        lots=lots,
        lots_count=lots_count,
        explanation=explanation,
    )


def assess_lot(session: Session, lot_id: str, question: Question) -> AssessmentRead:
    view = get_lot_view(session, lot_id)
    routes = _lot_routes(view)
    exposure = engine.exposure(routes, question.countries, question.stages)
    answer = exposure.answer(question.threshold)
    subject = {"kind": "lot", "id": view.lot.id, "code": view.lot.code, "organization": view.organization}
    name = f"Lot {view.lot.code} of {view.organization}"
    return _assessment(subject, question, answer, exposure, routes, _explain(name, answer, exposure, question))


@dataclass(frozen=True)
class ProductionLot:
    """What a SKU answer needs of one of its lots, read without loading the whole row."""

    id: str
    code: str
    organization: str
    routes: dict[engine.Route, Parts]


def _production_lots_query(*, since: bool, until: bool) -> Any:
    query = (
        sa.select(col(Lot.id), col(Lot.code), col(Organization.code), col(Lot.origin))
        .join(Organization, col(Lot.organization_pk) == Organization.pk)
        .where(col(Lot.sku_pk) == sa.bindparam("sku_pk"), col(Lot.status) == "active")
        .where(col(Lot.is_production).is_(True))
    )
    if since:
        query = query.where(col(Lot.occurred_at) >= sa.bindparam("since", type_=UTCDateTime()))
    if until:
        query = query.where(col(Lot.occurred_at) < sa.bindparam("until", type_=UTCDateTime()))
    return query.order_by(col(Lot.pk))


# Built once: a statement made per request costs more than the query it runs on a small SKU.
_PRODUCTION_LOTS = {
    (since, until): _production_lots_query(since=since, until=until)
    for since in (False, True)
    for until in (False, True)
}


def production_lots(
    session: Session, sku_pk: int, produced_from: datetime | None, produced_to: datetime | None
) -> list[ProductionLot]:
    """The non-voided lots of the SKU made by manufacturing or entered by a receipt, in the window."""
    query = _PRODUCTION_LOTS[produced_from is not None, produced_to is not None]
    parameters = {"sku_pk": sku_pk, "since": produced_from, "until": produced_to}
    return [
        ProductionLot(lot_id, code, organization, stored_route_parts(origin))
        for lot_id, code, organization, origin in session.connection().execute(query, parameters)
    ]


# A SKU answer adds up every route of every production lot: in Parts (see service.lots), not Fractions.
def _add_parts(into: Parts, parts: Parts) -> None:
    for denominator, numerator in parts.items():
        into[denominator] = into.get(denominator, 0) + numerator


def _value(parts: Parts) -> Fraction:
    return sum((Fraction(numerator, denominator) for denominator, numerator in parts.items()), Fraction(0))


class AnswerMemo:
    """SKU answers already given, by SKU revision and question, the least recently asked dropped first.

    A SKU's revision changes in the transaction that records or voids one of its lots, and
    nothing else changes a stored origin, so an answer found under the revision just read is
    the answer that would be computed now. Revisions are random tokens: no two databases share one.
    """

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[Hashable, AssessmentRead] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> AssessmentRead | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: Hashable, answer: AssessmentRead) -> None:
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self._capacity:
                self._answers.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], AssessmentRead]) -> AssessmentRead:
        """The remembered answer, or ``compute()``'s: once, however many requests ask at the same moment.

        Without this, a burst of the same new question would compute the same large answer in
        every thread at once: as many times the CPU and memory, and every one of them late.
        """
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        try:
            with computing:
                answer = self.get(key)
                if answer is None:
                    answer = compute()
                    self.put(key, answer)
                return answer
        finally:
            with self._lock:
                self._computing.pop(key, None)


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

    @cached_property
    def key(self) -> Hashable:
        asked = self.question
        threshold = str(asked.threshold_percent)  # as written: "50" and "50.0" are answered as asked
        window = (self.produced_from, self.produced_to)
        return (self.revision, self.sku, asked.countries, asked.stages, threshold, *window, self.lots_limit)


def ask_sku(
    session: Session,
    sku: str,
    question: Question,
    produced_from: datetime | None = None,
    produced_to: datetime | None = None,
    lots_limit: int = 100,
) -> SkuQuestion:
    """The question about an existing SKU, pinned to the revision this transaction reads."""
    sku_pk, revision = sku_revision(session, sku)
    return SkuQuestion(sku, sku_pk, revision, question, produced_from, produced_to, lots_limit)


def assess_sku(session: Session, asked: SkuQuestion, memo: AnswerMemo | None = None) -> AssessmentRead:
    """The worst answer of the SKU's production lots; percentages mass-weighted over them."""

    def compute() -> AssessmentRead:
        lots = production_lots(session, asked.sku_pk, asked.produced_from, asked.produced_to)
        windowed = bool(asked.produced_from or asked.produced_to)
        return _assess_lots(asked.sku, asked.question, lots, asked.lots_limit, windowed=windowed)

    return memo.get_or_compute(asked.key, compute) if memo is not None else compute()


def _assess_lots(
    sku: str, question: Question, lots: list[ProductionLot], lots_limit: int, *, windowed: bool
) -> AssessmentRead:
    kinds: dict[engine.Route, str] = {}

    def kind(route: engine.Route) -> str:
        """Whether the route counts as hit, unknown or neither, exactly as ``engine.exposure`` decides."""
        found = kinds.get(route)
        if found is None:
            probe = engine.exposure({route: Fraction(1)}, question.countries, question.stages)
            found = kinds[route] = "hit" if probe.hit else ("unknown" if probe.unknown else "other")
        return found

    threshold = question.threshold
    sku_routes: dict[engine.Route, Parts] = {}
    exposure = engine.NO_EXPOSURE
    answers: list[LotAnswer] = []
    for lot in lots:
        sums: dict[str, Parts] = {"hit": {}, "unknown": {}, "other": {}}
        for route, parts in lot.routes.items():
            _add_parts(sums[kind(route)], parts)
            _add_parts(sku_routes.setdefault(route, {}), parts)
        hit, unknown, other = _value(sums["hit"]), _value(sums["unknown"]), _value(sums["other"])
        lot_exposure = engine.Exposure(hit, unknown, hit + unknown + other)
        exposure = exposure + lot_exposure
        answers.append(
            LotAnswer(
                id=lot.id,
                code=lot.code,
                organization=lot.organization,
                answer=lot_exposure.answer(threshold),
                share_percent=format_percent(lot_exposure.share_percent),
                unknown_percent=format_percent(lot_exposure.unknown_percent),
                total_kg=format_kg(lot_exposure.total),
            )
        )
    routes = {route: kg for route, parts in sku_routes.items() if (kg := _value(parts))}
    answer = engine.worst(a.answer for a in answers) or "unknown"
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
    shown = sorted(answers, key=lambda a: -engine.ANSWER_RANK[a.answer])[:lots_limit]
    subject = {"kind": "sku", "sku": sku}
    return _assessment(subject, question, answer, exposure, routes, explanation, shown, len(answers))
