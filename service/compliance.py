"""A rule's test of the lots it judges (RULES.md): pure, exact, and blind to the database.

A rule version asks the plain question's kind of question (countries, stages, elements) with
exemptions, on a mass or value basis, against a threshold that may be inclusive. Each judged lot
gets its kilograms classified entry by entry; a lot or SKU answers as the worst of what it judges.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Literal

from service import origin as engine
from service.questions import ANSWER_RANK, Answer, Kind, Question

ReasonCode = Literal["missing_value", "missing_price", "no_subject_lots", "no_production_lots"]


@dataclass(frozen=True)
class RuleTest:
    """What a rule version asks, as the engine reads it (``rules.RuleVersion`` adds its dates)."""

    countries: tuple[str, ...]
    stages: tuple[str, ...]
    elements: tuple[str, ...] | None  # None: every rare earth counts
    basis: Literal["mass", "value"]
    threshold_percent: Decimal
    threshold_inclusive: bool
    exemptions: tuple[tuple[tuple[str, str], ...], ...]  # each route pattern as sorted (stage, value) pairs

    @cached_property
    def question(self) -> Question:
        """Built once: it remembers each route's class for every lot this test judges."""
        return Question(self.countries, self.stages, self.threshold_percent, self.elements)

    def exempt(self, route: engine.Route) -> bool:
        return any(all(route[engine.stage_index(s)] == v for s, v in pattern) for pattern in self.exemptions)

    def passes(self, percent: Fraction) -> bool:
        threshold = Fraction(self.threshold_percent)
        return percent >= threshold if self.threshold_inclusive else percent > threshold

    def answer(self, share: Fraction, unknown: Fraction) -> Answer:
        if self.passes(share):
            return "yes"
        if self.passes(share + unknown):
            return "unknown"
        return "no"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    lot: str | None  # the lot's id
    element: str | None
    detail: str


@dataclass(frozen=True)
class LotFacts:
    """A lot as a rule judges it: its stored origin and its exact value."""

    id: str
    code: str
    organization: str
    material: str
    origin: engine.StoredOrigin
    value: tuple[Fraction, str] | None  # amount, currency


@dataclass
class Judgement:
    """One judged lot's answer: percents are None when a value test could not be done."""

    lot: LotFacts
    answer: Answer
    hit_kg: Fraction
    unknown_kg: Fraction
    total_kg: Fraction
    share_percent: Fraction | None
    unknown_percent: Fraction | None
    hit_value: Fraction = Fraction(0)
    unknown_value: Fraction = Fraction(0)
    reasons: list[Reason] = field(default_factory=list)
    hit_elements: tuple[str, ...] = ()  # the elements with hit kilograms, in periodic order
    counts_value: bool = False  # its value enters the percentages over several lots
    wants_value: bool = False  # unknown for want of a value or a price


def classified(test: RuleTest, origin: engine.StoredOrigin) -> dict[Kind, dict[str, Fraction]]:
    """Kilograms per class and element (RULES.md, classifying kilograms)."""
    question = test.question
    sums: dict[Kind, dict[str, Fraction]] = {"hit": {}, "unknown": {}, "other": {}}
    for element, rows in origin.items():
        for row in rows:
            route = (row[0], row[1], row[2], row[3], row[4])
            kind: Kind = "other" if test.exempt(route) else question.kind(element, route)
            kg = Fraction(row[5])
            sums[kind][element] = sums[kind].get(element, Fraction(0)) + kg
    return sums


def judge(test: RuleTest, lot: LotFacts, prices: Mapping[tuple[str, str], Fraction], on: str) -> Judgement:
    """The rule's test of one lot; ``prices`` maps (element, currency) to the price per kg on the date."""
    sums = classified(test, lot.origin)
    judged = _judge(test, lot, sums, prices, on)
    judged.hit_elements = tuple(sorted((e for e, kg in sums["hit"].items() if kg), key=engine.symbol_order))
    return judged


def _judge(
    test: RuleTest,
    lot: LotFacts,
    sums: dict[Kind, dict[str, Fraction]],
    prices: Mapping[tuple[str, str], Fraction],
    on: str,
) -> Judgement:
    hit_kg = sum(sums["hit"].values(), Fraction(0))
    unknown_kg = sum(sums["unknown"].values(), Fraction(0))
    total_kg = hit_kg + unknown_kg + sum(sums["other"].values(), Fraction(0))
    if test.basis == "mass":
        share = 100 * hit_kg / total_kg if total_kg else Fraction(0)
        unknown = 100 * unknown_kg / total_kg if total_kg else Fraction(0)
        return Judgement(lot, test.answer(share, unknown), hit_kg, unknown_kg, total_kg, share, unknown)
    if not hit_kg and not unknown_kg:
        judged = Judgement(lot, "no", hit_kg, unknown_kg, total_kg, Fraction(0), Fraction(0))
        judged.counts_value = lot.value is not None
        return judged
    if lot.value is None:
        reason = Reason("missing_value", lot.id, None, f"lot {lot.code} of {lot.organization} has no value")
        return Judgement(lot, "unknown", hit_kg, unknown_kg, total_kg, None, None, reasons=[reason], wants_value=True)
    amount, currency = lot.value
    rule_elements = test.elements or ()
    missing: list[str] = []

    def price(element: str) -> Fraction | None:
        if element == engine.REE:  # it could be any rule element: the dearest
            found = [prices.get((e, currency)) for e in rule_elements]
            missing.extend(e for e, p in zip(rule_elements, found, strict=True) if p is None and e not in missing)
            known = [p for p in found if p is not None]
            return max(known) if known and len(known) == len(found) else None
        found_price = prices.get((element, currency))
        if found_price is None and element not in missing:
            missing.append(element)
        return found_price

    values: dict[str, Fraction] = {"hit": Fraction(0), "unknown": Fraction(0)}
    for kind in ("hit", "unknown"):
        for element, kg in sums[kind].items():
            if kg:
                per_kg = price(element)
                values[kind] += kg * per_kg if per_kg is not None else 0
    if missing:
        ordered = sorted(missing, key=engine.symbol_order)
        reasons = [Reason("missing_price", lot.id, e, f"no {currency} price for {e} on {on}") for e in ordered]
        return Judgement(lot, "unknown", hit_kg, unknown_kg, total_kg, None, None, reasons=reasons, wants_value=True)
    share = 100 * values["hit"] / amount
    unknown = 100 * values["unknown"] / amount
    judged = Judgement(
        lot, test.answer(share, unknown), hit_kg, unknown_kg, total_kg, share, unknown, values["hit"], values["unknown"]
    )
    judged.counts_value = True
    return judged


@dataclass(frozen=True)
class Verdict:
    """A rule's answer for a lot or SKU: the worst of what it judges, and percents over the judged lots."""

    answer: Answer
    share_percent: Fraction | None
    unknown_percent: Fraction | None
    judged: list[Judgement]  # distinct, worst first
    reasons: list[Reason]

    @property
    def hit_elements(self) -> list[str]:
        return sorted({e for j in self.judged for e in j.hit_elements}, key=engine.symbol_order)


def verdict(
    test: RuleTest, answers: Sequence[Answer], judged: Sequence[Judgement], reasons: Sequence[Reason]
) -> Verdict:
    """``answers``: each subject lot's answer (a SKU's production lots, or the one lot asked about)."""
    answer: Answer = max(answers, key=ANSWER_RANK.__getitem__) if answers else "unknown"
    ordered = sorted(judged, key=lambda j: -ANSWER_RANK[j.answer])  # stable: recording order within an answer
    share: Fraction | None
    unknown: Fraction | None
    if test.basis == "mass":
        total = sum((j.total_kg for j in judged), Fraction(0))
        hit = sum((j.hit_kg for j in judged), Fraction(0))
        unknown_kg = sum((j.unknown_kg for j in judged), Fraction(0))
        share, unknown = (100 * hit / total, 100 * unknown_kg / total) if total else (Fraction(0), Fraction(0))
    else:
        valued = [j for j in judged if j.counts_value and j.lot.value is not None]
        currencies = {j.lot.value[1] for j in valued if j.lot.value is not None}
        if any(j.wants_value for j in judged) or len(currencies) > 1:
            share = unknown = None
        elif not valued:
            share = unknown = Fraction(0)
        else:
            amount = sum((j.lot.value[0] for j in valued if j.lot.value is not None), Fraction(0))
            hit_value = sum((j.hit_value for j in valued), Fraction(0))
            unknown_value = sum((j.unknown_value for j in valued), Fraction(0))
            share, unknown = 100 * hit_value / amount, 100 * unknown_value / amount
    every_reason = [*reasons, *(r for j in ordered for r in j.reasons)]
    return Verdict(answer, share, unknown, ordered, every_reason)
