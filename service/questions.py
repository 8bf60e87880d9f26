"""The question a buyer asks, and how stored origins answer it: the pure core of every answer.

A question asks whether a subject's rare earths went through any of ``countries`` at
any of ``stages``, above ``threshold_percent`` of its rare-earth kilograms. Every
kilogram of a stored origin is *hit* (an asked stage is an asked country), *unknown*
(not a hit, but nobody has shown where some asked stage took place) or *other*. With
an element list only those elements can be hit; ``REE`` (rare earths nobody named)
on a hit or open route is unknown, since it could be a listed element (RULES.md,
step 4). Nothing here touches the database or HTTP.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from service import origin as engine
from service.errors import invalid
from service.numbers import format_decimal, parse_decimal
from service.schemas import check_country

DEFAULT_COUNTRIES: tuple[str, ...] = ("CN",)
DEFAULT_STAGES: tuple[str, ...] = ("mining", "refining", "metal_making", "magnet_making")

Answer = Literal["yes", "no", "unknown"]
Kind = Literal["hit", "unknown", "other"]
ANSWER_RANK: dict[str, int] = {"no": 0, "unknown": 1, "yes": 2}


@dataclass(frozen=True)
class Question:
    """Do the rare earths touch any of ``countries`` at any of ``stages``, above ``threshold_percent``?

    Checked when made: an invalid question never exists, whoever builds it.
    """

    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    stages: tuple[str, ...] = DEFAULT_STAGES
    threshold_percent: Decimal = Decimal(0)
    elements: tuple[str, ...] | None = None  # None: every rare earth counts
    _kinds: dict[engine.Route, Kind] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.countries:
            raise invalid("countries", "name at least one country")
        for country in self.countries:
            try:
                check_country(country)
            except ValueError as exc:
                raise invalid("countries", f"{country!r} {exc}") from None
        if not self.stages:
            raise invalid("stages", "name at least one stage")
        for stage in self.stages:
            if stage not in engine.STAGES:
                raise invalid("stages", f"{stage!r} is not one of {', '.join(engine.STAGES)}")
        if not 0 <= self.threshold_percent <= 100:
            raise invalid("threshold_percent", "must be between 0 and 100")
        if self.elements is not None:
            if not self.elements:
                raise invalid("elements", "name at least one element, or leave it out for every rare earth")
            for element in self.elements:
                if element not in engine.ELEMENTS:
                    raise invalid("elements", f"{element!r} is not a rare-earth element symbol such as Dy")
            if len(set(self.elements)) != len(self.elements):
                raise invalid("elements", "names an element twice")

    @classmethod
    def parse(
        cls, countries: str | None, stages: str | None, threshold_percent: str | None, elements: str | None = None
    ) -> "Question":
        """The question as a query string writes it: comma-separated lists and a decimal; absent parts default.

        Countries keep the order asked (repeats dropped); stages are put in stage order.
        """
        country_list = tuple(c.strip() for c in countries.split(",")) if countries is not None else DEFAULT_COUNTRIES
        stage_list = tuple(s.strip() for s in stages.split(",")) if stages is not None else DEFAULT_STAGES
        threshold = Decimal(0)
        if threshold_percent is not None:
            try:
                threshold = parse_decimal(threshold_percent)
            except ValueError as exc:
                raise invalid("threshold_percent", str(exc)) from None
        ordered = sorted(set(stage_list), key=lambda s: engine.STAGES.index(s) if s in engine.STAGES else -1)
        element_list = tuple(e.strip() for e in elements.split(",")) if elements is not None else None
        if element_list is not None and engine.REE in element_list:
            raise invalid("elements", "REE is not an element: name element symbols such as Dy,Tb")
        return cls(
            countries=tuple(dict.fromkeys(country_list)),
            stages=tuple(ordered),
            threshold_percent=threshold,
            elements=element_list,
        )

    @property
    def threshold(self) -> Fraction:
        return Fraction(self.threshold_percent)

    @property
    def key(self) -> tuple[object, ...]:
        """The question as asked, for remembering answers: ``"50"`` and ``"50.0"`` are written back as asked."""
        return (self.countries, self.stages, str(self.threshold_percent), self.elements)

    def describe(self) -> str:
        countries = " or ".join(self.countries)
        stages = ", ".join(s.replace("_", " ") for s in self.stages)
        asked = f"{countries} at any of these stages: {stages}"
        return asked if self.elements is None else f"{asked} (counting only {', '.join(self.elements)})"

    def route_kind(self, route: engine.Route) -> Kind:
        """The plain question's class of a route, whatever ``elements`` says (remembered per route)."""
        found = self._kinds.get(route)
        if found is None:
            values = [route[engine.stage_index(stage)] for stage in self.stages]
            if any(value in self.countries for value in values):
                found = "hit"
            elif engine.UNKNOWN in values:
                found = "unknown"
            else:
                found = "other"
            self._kinds[route] = found
        return found

    def element_mode(self, element: str) -> Literal["plain", "open_unknown", "other"]:
        """How the element's kilograms count: as their route says, unknown where hit or open, or never."""
        if self.elements is None or element in self.elements:
            return "plain"
        return "open_unknown" if element == engine.REE else "other"

    def kind(self, element: str, route: engine.Route) -> Kind:
        """The class of the kilograms of ``element`` on ``route`` (RULES.md, classifying kilograms)."""
        mode = self.element_mode(element)
        if mode == "other":
            return "other"
        found = self.route_kind(route)
        return "unknown" if mode == "open_unknown" and found == "hit" else found

    def threshold_text(self) -> str:
        return format_decimal(self.threshold_percent)


@dataclass(frozen=True)
class Exposure:
    """Kilograms that answer a question: hit, unknown, and all the subject's rare earths."""

    hit: Fraction
    unknown: Fraction
    total: Fraction

    def __add__(self, other: "Exposure") -> "Exposure":
        return Exposure(self.hit + other.hit, self.unknown + other.unknown, self.total + other.total)

    @property
    def share_percent(self) -> Fraction:
        return 100 * self.hit / self.total if self.total else Fraction(0)

    @property
    def unknown_percent(self) -> Fraction:
        return 100 * self.unknown / self.total if self.total else Fraction(0)

    def answer(self, threshold_percent: Fraction) -> Answer:
        if self.share_percent > threshold_percent:
            return "yes"
        if self.share_percent + self.unknown_percent > threshold_percent:
            return "unknown"
        return "no"


NO_EXPOSURE = Exposure(Fraction(0), Fraction(0), Fraction(0))


def exposure(origin: engine.Origin, question: Question) -> Exposure:
    """The exact answer's kilograms for one origin, entry by entry: the reference ``weigh`` is held to."""
    sums: dict[Kind, Fraction] = {"hit": Fraction(0), "unknown": Fraction(0), "other": Fraction(0)}
    for element, routes in origin.items():
        for route, kg in routes.items():
            sums[question.kind(element, route)] += kg
    return Exposure(sums["hit"], sums["unknown"], sums["hit"] + sums["unknown"] + sums["other"])


def worst(answers: Iterable[Answer]) -> Answer | None:
    """The answer that decides for several lots: any ``yes``, else any ``unknown``, else ``no``."""
    ranked = sorted(answers, key=ANSWER_RANK.__getitem__)
    return ranked[-1] if ranked else None


def subject_answer(lot_answers: Iterable[Answer]) -> Answer:
    """A SKU answers as its worst production lot; with none, nobody has shown anything: ``unknown``."""
    return worst(lot_answers) or "unknown"


def worst_first(answers: Sequence[Answer]) -> list[int]:
    """Positions of the answers, worst first; equal answers keep their order."""
    return sorted(range(len(answers)), key=lambda i: -ANSWER_RANK[answers[i]])


@dataclass(frozen=True)
class Weighed:
    """Several lots weighed against one question."""

    lots: list[Exposure]  # each lot's, in the order given
    exposure: Exposure  # all of them together
    routes: dict[engine.Route, Fraction]  # kilograms per route over all of them
    elements: dict[str, Exposure]  # per symbol present, classified by the plain question (elements ignored)


# Sums are kept as {denominator: summed numerators}: adding stored "n/d" kilograms is then integer
# addition, and one Fraction is made per sum instead of one per term (a SKU of 1,666 lots: BENCHMARKS.md).
_Parts = dict[int, int]


def _add(parts: _Parts, denominator: int, numerator: int) -> None:
    parts[denominator] = parts.get(denominator, 0) + numerator


def _value(parts: _Parts) -> Fraction:
    return sum((Fraction(numerator, denominator) for denominator, numerator in parts.items()), Fraction(0))


def weigh(origins: Iterable[engine.StoredOrigin], question: Question) -> Weighed:
    """Each lot's exposure, their sum, their routes and each element's exposure, from stored origins.

    Exactly ``exposure(decode_origin(o), question)`` per lot and ``route_totals`` over them all
    (a property test holds it to that), in integer sums.
    """
    routes: dict[engine.Route, _Parts] = {}
    elements: dict[str, dict[Kind, _Parts]] = {}
    lots: list[Exposure] = []
    for stored in origins:
        sums: dict[Kind, _Parts] = {"hit": {}, "unknown": {}, "other": {}}
        for element, rows in stored.items():
            mode = question.element_mode(element)
            plain_sums = elements.setdefault(element, {"hit": {}, "unknown": {}, "other": {}})
            for row in rows:
                text = row[5]
                numerator, _, denominator = text.partition("/")
                d = int(denominator) if denominator else 1
                n = int(numerator)
                route = (row[0], row[1], row[2], row[3], row[4])
                plain = question.route_kind(route)
                kind: Kind = plain if mode == "plain" else "other" if mode == "other" or plain == "other" else "unknown"
                _add(sums[kind], d, n)
                _add(plain_sums[plain], d, n)
                _add(routes.setdefault(route, {}), d, n)
        hit, unknown, other = _value(sums["hit"]), _value(sums["unknown"]), _value(sums["other"])
        lots.append(Exposure(hit, unknown, hit + unknown + other))
    whole = sum(lots, NO_EXPOSURE)
    per_element = {}
    for element in sorted(elements, key=engine.symbol_order):
        hit, unknown, other = (_value(elements[element][k]) for k in ("hit", "unknown", "other"))
        per_element[element] = Exposure(hit, unknown, hit + unknown + other)
    kg_per_route = {route: kg for route, parts in routes.items() if (kg := _value(parts))}
    return Weighed(lots=lots, exposure=whole, routes=kg_per_route, elements=per_element)
