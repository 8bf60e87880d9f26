"""Rules' answers for a lot or a SKU on a date: the lots each rule judges, read from the database.

The engine (``service.compliance``) tests lots; this module finds them: a SKU's production lots,
the nearest lots of a rule's subject materials upstream of a lot (walking the stored inputs of
events, one query per step back for all paths at once, never a query per lot), and the prices in
effect on the date.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import knowledge, visibility
from service import origin as engine
from service.access import OPERATOR, Principal
from service.compliance import Judgement, LotFacts, Reason, RuleTest, Verdict, judge, verdict
from service.db import utcnow
from service.errors import NotFound, invalid
from service.models import CustomRule, EventInput, Lot, Organization, Price, Sku
from service.numbers import format_decimal, format_percent
from service.questions import Answer, worst
from service.rules import Rule, RuleVersion, get_rule, list_rules, tested_as_written
from service.schemas import ComplianceRead, JudgedLot, ReasonRead, RuleResult, is_code, is_id
from service.skus import SKU_CALLED, no_sku


@dataclass(frozen=True)
class StoredLot:
    pk: int
    event_pk: int
    facts: LotFacts


_LOTS = sa.select(
    col(Lot.pk), col(Lot.event_pk), col(Lot.id), col(Lot.code), col(Organization.code), col(Lot.material),
    col(Lot.origin), col(Lot.value_amount), col(Lot.value_currency),
).join(Organization, col(Lot.organization_pk) == Organization.pk)  # fmt: skip


def _read(session: Session, *where: Any) -> list[StoredLot]:
    rows = session.execute(_LOTS.where(*where).order_by(col(Lot.pk)))
    return [
        StoredLot(
            pk,
            event_pk,
            LotFacts(
                id=lot_id,
                code=code,
                organization=organization,
                material=material,
                origin=origin,
                value=(Fraction(amount), currency) if amount is not None and currency is not None else None,
            ),
        )
        for pk, event_pk, lot_id, code, organization, material, origin, amount, currency in rows
    ]


def lot_subject(session: Session, lot_id: str, as_of: datetime | None = None, actor: Principal = OPERATOR) -> StoredLot:
    """The lot asked about; as of a moment, only one recorded by then; one the actor may not see is not found."""
    recorded = () if as_of is None else (col(Lot.recorded_at) <= as_of,)
    found = _read(session, col(Lot.id) == lot_id, *recorded) if is_id(lot_id) else []
    if not found or not visibility.sees_holder(actor, found[0].facts.organization):
        raise knowledge.not_known(f"lot has the id {lot_id!r}", as_of)
    return found[0]


def production_lots(session: Session, sku_pk: int, as_of: datetime | None = None) -> list[StoredLot]:
    """The SKU's production lots active now (or at ``as_of``), in the order they were recorded."""
    return _read(session, col(Lot.sku_pk) == sku_pk, col(Lot.is_production).is_(True), *knowledge.lots_active(as_of))


def subject_lots_upstream(
    session: Session, starts: Sequence[StoredLot], materials: Iterable[str]
) -> dict[int, list[StoredLot]]:
    """For each start lot, the first lots of the materials on every path back from its event, not past them.

    Every start walks at once: one query per step back (per 500 events) for all paths together, so a
    SKU of thousands of lots costs its depth in queries, not its lots times its depth.
    """
    wanted = frozenset(materials)
    found: dict[int, dict[int, StoredLot]] = {start.pk: {} for start in starts}
    walked: dict[int, set[int]] = {}  # event -> the starts that have walked through it
    frontier: dict[int, set[int]] = {}
    for start in starts:
        frontier.setdefault(start.event_pk, set()).add(start.pk)
    while frontier:
        for event_pk, walkers in frontier.items():
            walked.setdefault(event_pk, set()).update(walkers)
        step: dict[int, set[int]] = {}
        events = sorted(frontier)
        for first in range(0, len(events), 500):
            chunk = events[first : first + 500]
            consumed = sa.select(col(EventInput.event_pk), col(EventInput.lot_pk)).where(
                col(EventInput.event_pk).in_(chunk)
            )
            pairs = session.execute(consumed).all()
            lots = {lot.pk: lot for lot in _read(session, col(Lot.pk).in_(sa.select(consumed.subquery().c.lot_pk)))}
            for event_pk, lot_pk in pairs:
                lot, walkers = lots[lot_pk], frontier[event_pk]
                if lot.facts.material in wanted:
                    for walker in walkers:
                        found[walker][lot.pk] = lot
                elif new := walkers - walked.get(lot.event_pk, set()):
                    step.setdefault(lot.event_pk, set()).update(new)
        frontier = step
    return {start: sorted(lots.values(), key=lambda lot: lot.pk) for start, lots in found.items()}


def prices_on(session: Session, on: date, as_of: datetime | None = None) -> dict[tuple[str, str], Fraction]:
    """Each element's price per kg in each currency in effect on the date: the latest ``valid_from`` not after it.

    As of a moment, only the prices recorded by then.
    """
    query = (
        sa.select(col(Price.element), col(Price.currency), col(Price.price_per_kg))
        .where(col(Price.valid_from) <= on)
        .order_by(col(Price.valid_from))
    )
    if as_of is not None:
        query = query.where(col(Price.created_at) <= as_of)
    return {(element, currency): Fraction(price) for element, currency, price in session.execute(query)}


def _has_rare_earths(lot: StoredLot) -> bool:
    return any(rows for rows in lot.facts.origin.values())


def _before_every(material: str, materials: Iterable[str]) -> bool:
    """An oxide cannot hold a magnet: the lot's stage comes before the stage of every subject material."""
    stage = engine.stage_index(engine.MATERIAL_STAGE[material])
    return all(stage < engine.stage_index(engine.MATERIAL_STAGE[m]) for m in materials)


def rule_result(
    session: Session,
    rule: Rule,
    version: RuleVersion,
    subject_lots: list[StoredLot],
    name: str,
    is_sku: bool,
    on: date,
    prices: dict[tuple[str, str], Fraction],
    lots_limit: int,
) -> RuleResult:
    """One rule's answer for the subject: each subject lot answered, the judged lots tested once each."""
    test: RuleTest = version
    materials = version.subject_materials
    judged: dict[int, Judgement] = {}
    answers: list[Answer] = []
    reasons: list[Reason] = []
    if is_sku and not subject_lots:
        reasons.append(Reason("no_production_lots", None, None, f"{name} has no production lots"))

    def judged_lot(lot: StoredLot) -> Judgement:
        if lot.pk not in judged:
            judged[lot.pk] = judge(test, lot.facts, prices, on.isoformat())
        return judged[lot.pk]

    def walks(lot: StoredLot) -> bool:
        """Whether the lot is answered by the subject lots upstream of it."""
        if materials is None or lot.facts.material in materials:
            return False
        return _has_rare_earths(lot) and not _before_every(lot.facts.material, materials)

    upstream = subject_lots_upstream(session, [lot for lot in subject_lots if walks(lot)], materials or ())
    for lot in subject_lots:
        if materials is None or lot.facts.material in materials:
            answers.append(judged_lot(lot).answer)
        elif not walks(lot):
            answers.append("no")
        else:
            found = upstream[lot.pk]
            if not found:
                detail = f"no {' or '.join(materials)} lot upstream of {_named(lot.facts)}"
                reasons.append(Reason("no_subject_lots", lot.facts.id, None, detail))
                answers.append("unknown")
            else:
                answers.append(worst(judged_lot(u).answer for u in found) or "unknown")
    decided = verdict(test, answers, [judged[pk] for pk in sorted(judged)], reasons)
    result = RuleResult(
        rule=rule.id,
        title=rule.title,
        **tested_as_written(version),
        answer=decided.answer,
        share_percent=_percent(decided.share_percent),
        unknown_percent=_percent(decided.unknown_percent),
        lots=[_judged_read(j) for j in decided.judged[:lots_limit]],
        lots_count=len(decided.judged),
        reasons=[_reason_read(r) for r in decided.reasons],
        explanation=_explain(rule, version, name, decided, on),
    )
    facts = {lot.facts.id: lot.facts for lot in subject_lots} | {j.lot.id: j.lot for j in judged.values()}
    named = {j.lot.id for j in judged.values()} | {r.lot for r in decided.reasons if r.lot is not None}
    result._named_lots = {lot_id: (facts[lot_id].code, facts[lot_id].organization) for lot_id in named}
    return result


def _named(lot: LotFacts) -> str:
    return _named_as(lot.code, lot.organization)


def _named_as(code: str, organization: str) -> str:
    """How a reason's detail names a lot (``compliance.judge`` too): ``as_seen_by`` hides this text."""
    return f"lot {code} of {organization}"


def as_seen_by(answer: ComplianceRead, actor: Principal) -> ComplianceRead:
    """The rules' answers as ``actor`` may read them: the lots it may not see without id or code.

    Judged lots and reasons about such a lot lose its id and code, and no detail or explanation
    names its code. Applied per request to the answer as remembered (which stays whole): an answer
    with nothing to hide is the same object.
    """
    if visibility.sees_everything(actor):
        return answer
    results = [_result_seen_by(result, actor) for result in answer.results]
    if all(seen is result for seen, result in zip(results, answer.results, strict=True)):
        return answer
    return answer.model_copy(update={"results": results})


def _result_seen_by(result: RuleResult, actor: Principal) -> RuleResult:
    hidden = {
        lot_id: named for lot_id, named in result._named_lots.items() if not visibility.sees_holder(actor, named[1])
    }
    if not hidden:
        return result

    def text(said: str) -> str:
        for code, organization in hidden.values():
            said = said.replace(_named_as(code, organization), f"a lot of {organization}")
        return said

    def reason(read: ReasonRead) -> ReasonRead:
        lot = None if read.lot in hidden else read.lot
        return read.model_copy(update={"lot": lot, "detail": text(read.detail)})

    def judged(read: JudgedLot) -> JudgedLot:
        shown = {"id": None, "code": None} if read.id in hidden else {}
        return read.model_copy(update=shown | {"reasons": [reason(r) for r in read.reasons]})

    return result.model_copy(
        update={
            "lots": [judged(lot) for lot in result.lots],
            "reasons": [reason(r) for r in result.reasons],
            "explanation": text(result.explanation),
        }
    )


def _percent(value: Fraction | None) -> str | None:
    return None if value is None else format_percent(value)


def _reason_read(reason: Reason) -> ReasonRead:
    return ReasonRead(code=reason.code, lot=reason.lot, element=reason.element, detail=reason.detail)


def _judged_read(judged: Judgement) -> JudgedLot:
    facts = judged.lot
    return JudgedLot(
        id=facts.id,
        code=facts.code,
        organization=facts.organization,
        material=facts.material,
        answer=judged.answer,
        share_percent=_percent(judged.share_percent),
        unknown_percent=_percent(judged.unknown_percent),
        reasons=[_reason_read(r) for r in judged.reasons],
    )


def _explain(rule: Rule, version: RuleVersion, name: str, decided: Verdict, on: date) -> str:
    status = "in force" if version.in_force else "not in force"
    head = f"{rule.title} (version {version.version}, {status} on {on.isoformat()}): {name} answers {decided.answer}"
    reasons = sorted({r.detail for r in decided.reasons})
    if decided.share_percent is None:
        return f"{head}, because it cannot be worked out: {'; '.join(reasons)}."
    if reasons and not decided.judged:
        return f"{head}: {'; '.join(reasons)}, so nobody has shown where its rare earths came from."
    where = f"{' or '.join(version.countries)} at {', '.join(s.replace('_', ' ') for s in version.stages)}"
    basis = "of the value of what it judges" if version.basis == "value" else "of the rare earths it judges"
    elements = f" ({', '.join(decided.hit_elements)})" if decided.hit_elements else ""
    bound = "at least" if version.threshold_inclusive else "more than"
    threshold = f"{bound} {format_decimal(version.threshold_percent)} %"
    shown = f"{format_percent(decided.share_percent)} % {basis}{elements} went through {where}"
    if decided.answer == "yes":
        return f"{head}: {shown}, which meets the rule's threshold ({threshold})."
    if decided.answer == "unknown":
        unknown = format_percent(decided.unknown_percent or Fraction(0))
        gap = f"for a further {unknown} % nobody has shown where a rule stage took place"
        return f"{head}: {shown}; {gap}, which could meet the rule's threshold ({threshold})."
    return f"{head}: {shown}, which does not meet the rule's threshold ({threshold})."


# Every rules' answer for a SKU starts here: the SKU's key and revision, and what else its answer depends on
# (prices and custom rules, only ever added to: how many there are and their newest keys; the newest key alone
# would miss a row committed after one with a later key, as PostgreSQL allows), in one statement built once.
_SKU_AND_CATALOG = sa.select(
    col(Sku.pk),
    col(Sku.revision),
    sa.select(sa.func.count()).select_from(Price).scalar_subquery(),
    sa.select(sa.func.max(col(Price.pk))).scalar_subquery(),
    sa.select(sa.func.count()).select_from(CustomRule).scalar_subquery(),
    sa.select(sa.func.max(col(CustomRule.pk))).scalar_subquery(),
).where(SKU_CALLED)
_SKU_AND_CATALOG_AS_OF = _SKU_AND_CATALOG.where(col(Sku.created_at) <= knowledge.as_of_param())


def revisions_query(code: str, as_of: datetime | None = None) -> tuple[Any, dict[str, object]]:
    """The statement (and its parameters) whose row is the SKU's key and the revisions its rules' answer is
    pinned to."""
    return (_SKU_AND_CATALOG if as_of is None else _SKU_AND_CATALOG_AS_OF), {"sku": code, "as_of": as_of}


def sku_revisions(session: Session, code: str, as_of: datetime | None = None) -> tuple[int, tuple[object, ...]]:
    """The SKU's key, and the revisions its rules' answer is remembered under (its own, the prices', the rules').

    As of a moment, a SKU registered after it is not found.
    """
    query, params = revisions_query(code, as_of)
    found = session.connection().execute(query, params).first() if is_code(code) else None
    if found is None:
        raise no_sku(code, as_of)
    pk, *revisions = found
    return pk, tuple(revisions)


def rules_on(
    session: Session, names: str | None, on: date, as_of: datetime | None = None
) -> list[tuple[Rule, RuleVersion]]:
    """The rules asked for (comma-separated ids, in that order), or every rule with a version on the date, by id.

    As of a moment, only the custom rules created by then exist.
    """
    if names is None:
        known = list_rules(session, as_of)
        return [(rule, version) for rule in known if (version := rule.version_on(on)) is not None]
    ids = [name.strip() for name in names.split(",")]
    if len(set(ids)) != len(ids):
        raise invalid("rules", "names a rule twice")
    chosen = []
    for rule_id in ids:
        try:
            rule = get_rule(session, rule_id, as_of)
        except NotFound:
            when = "" if as_of is None else f" as of {as_of.isoformat()}"
            raise invalid("rules", f"there is no rule {rule_id!r}{when}") from None
        version = rule.version_on(on)
        if version is None:
            raise invalid("on", f"rule {rule_id} has no version covering {on.isoformat()}")
        chosen.append((rule, version))
    return chosen


def compliance(
    session: Session,
    subject: dict[str, str],
    subject_lots: list[StoredLot],
    name: str,
    rules: list[tuple[Rule, RuleVersion]],
    on: date,
    lots_limit: int,
    as_of: datetime | None = None,
) -> ComplianceRead:
    """Each rule's answer for the subject's lots on the date, with the prices in effect (known at ``as_of``)."""
    prices = prices_on(session, on, as_of)
    is_sku = subject["kind"] == "sku"
    results = [
        rule_result(session, rule, version, subject_lots, name, is_sku, on, prices, lots_limit)
        for rule, version in rules
    ]
    return ComplianceRead(subject=subject, on=on, as_of=as_of or utcnow(), results=results)


def lot_compliance(
    session: Session,
    lot_id: str,
    rules: str | None,
    on: date,
    lots_limit: int,
    as_of: datetime | None = None,
    actor: Principal = OPERATOR,
) -> ComplianceRead:
    """The rules' answers for one lot (as ``/lots/{id}/compliance`` gives them), as ``actor`` may read them.

    A lot the actor may not see is not found; the lots upstream it may not see are judged, and shown without id
    or code.
    """
    lot = lot_subject(session, lot_id, as_of, actor)
    subject = {"kind": "lot", "id": lot.facts.id, "code": lot.facts.code, "organization": lot.facts.organization}
    name = _named(lot.facts)
    chosen = rules_on(session, rules, on, as_of)
    return as_seen_by(compliance(session, subject, [lot], name, chosen, on, lots_limit, as_of), actor)


def sku_compliance(
    session: Session,
    sku: str,
    sku_pk: int,
    rules: str | None,
    on: date,
    lots_limit: int,
    as_of: datetime | None = None,
) -> ComplianceRead:
    """The rules' answers for a SKU found by ``sku_revisions`` (as ``/skus/{sku}/compliance`` gives them)."""
    lots = production_lots(session, sku_pk, as_of)
    chosen = rules_on(session, rules, on, as_of)
    return compliance(session, {"kind": "sku", "sku": sku}, lots, f"SKU {sku}", chosen, on, lots_limit, as_of)
