"""The origin engine of ORIGIN.md: pure functions over exact rationals.

An origin maps each element to the kilograms on each route; a route is the
value of the five stages in order. Nothing here touches the database or
HTTP: the worked examples' numbers are checked against these functions
directly, and ``events.py`` feeds them the lots it loads.
"""

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import TypeVar

STAGES: tuple[str, ...] = ("mining", "refining", "metal_making", "magnet_making", "manufacturing")
ELEMENTS: tuple[str, ...] = (
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Sc", "Y",
)  # fmt: skip
REE = "REE"
SYMBOLS: tuple[str, ...] = (*ELEMENTS, REE)
UNKNOWN = "unknown"
NONE = "none"
RECYCLED = "recycled"

MATERIAL_STAGE: dict[str, str] = {
    "ore": "mining",
    "concentrate": "mining",
    "intermediate": "refining",
    "oxide": "refining",
    "metal": "metal_making",
    "alloy": "metal_making",
    "magnet": "magnet_making",
    "component": "manufacturing",
    "product": "manufacturing",
}
MATERIALS: tuple[str, ...] = tuple(MATERIAL_STAGE)
# A SKU answers for lots made at these stages (a magnet maker sells magnets by SKU too) or received.
PRODUCTION_STAGES: tuple[str, ...] = ("magnet_making", "manufacturing")
# Making metal implies the material was refined; making magnets implies both.
IMPLIED_STAGES: dict[str, tuple[str, ...]] = {
    "metal_making": ("refining",),
    "magnet_making": ("refining", "metal_making"),
}

Route = tuple[str, ...]
Composition = dict[str, Fraction]
Origin = dict[str, dict[Route, Fraction]]
# An origin in its exact text form, as stored: each element's routes, largest first, as rows of the five
# stage values and the kilograms as a fraction's text ("3" or "1/3").
StoredOrigin = Mapping[str, Sequence[Sequence[str]]]
K = TypeVar("K", bound=Hashable)
# Kilograms: a Fraction, or an integer numerator over a denominator shared by all the values at hand.
N = TypeVar("N", int, Fraction)


class OriginRuleError(ValueError):
    """A rule of ORIGIN.md refused the input; the message says which."""


def makes_production_lots(event_type: str, stage: str | None) -> bool:
    """Whether the event's outputs are production lots of the SKUs they name (ORIGIN.md): not moves or repacks."""
    return event_type == "receipt" or (event_type == "processing" and stage in PRODUCTION_STAGES)


def stage_index(stage: str) -> int:
    return STAGES.index(stage)


def symbol_order(symbol: str) -> int:
    return SYMBOLS.index(symbol)


def total(composition: Mapping[str, Fraction]) -> Fraction:
    return sum(composition.values(), Fraction(0))


def clean_composition(composition: Mapping[str, Fraction]) -> Composition:
    """Drop zero entries and order keys as in the periodic table, ``REE`` last."""
    return {k: composition[k] for k in sorted(composition, key=symbol_order) if composition[k] != 0}


def is_resolved_composition(composition: Mapping[str, Fraction]) -> bool:
    return REE not in composition


def _add(into: dict[K, N], key: K, kg: N) -> None:
    """``into[key] += kg``, a missing key counting as 0 (without adding 0, which costs as much as any sum)."""
    into[key] = into[key] + kg if key in into else kg


def _merge(items: Iterable[tuple[Route, Fraction]]) -> dict[Route, Fraction]:
    merged: dict[Route, Fraction] = {}
    for route, kg in items:
        merged[route] = merged[route] + kg if route in merged else kg
    return {route: kg for route, kg in merged.items() if kg}


def spread(composition: Mapping[str, Fraction], shares: Mapping[Route, Fraction]) -> Origin:
    """Every element of the composition on every route, in the given shares (summing to 1)."""
    if len(shares) == 1:  # one route takes it all (an extraction, a receipt declared whole): the kilograms as given
        ((route, share),) = shares.items()
        if share == 1:
            return {element: {route: kg} for element, kg in composition.items() if kg != 0}
    return {
        element: _merge((route, kg * share) for route, share in shares.items())
        for element, kg in composition.items()
        if kg != 0
    }


def extraction_origin(composition: Mapping[str, Fraction], country: str) -> Origin:
    route: Route = (country, NONE, NONE, NONE, NONE)
    return spread(composition, {route: Fraction(1)})


def default_route(material: str) -> Route:
    """Stages up to the material's own stage are ``unknown``, later ones ``none``."""
    last = stage_index(MATERIAL_STAGE[material])
    return tuple(UNKNOWN if i <= last else NONE for i in range(len(STAGES)))


def declared_route(material: str, declared: Mapping[str, str]) -> Route:
    """A declared route over the material's defaults, stage by stage."""
    last = stage_index(MATERIAL_STAGE[material])
    route = list(default_route(material))
    for stage, value in declared.items():
        if stage not in STAGES:
            raise OriginRuleError(f"unknown stage {stage!r}")
        i = stage_index(stage)
        if value == RECYCLED and stage != "mining":
            raise OriginRuleError("only the mining stage can be 'recycled'")
        if i > last and value != NONE:
            raise OriginRuleError(f"a {material} has not reached the {stage} stage: only 'none' may be declared there")
        route[i] = value
    return tuple(route)


def receipt_shares(material: str, declared: Sequence[tuple[Mapping[str, str], Fraction]]) -> dict[Route, Fraction]:
    """Route shares (fractions of 1) of a receipt; the undeclared remainder takes the default route."""
    # A supplier's receipts repeat the same declaration: its shares are worked out once (a refusal is not kept).
    key = tuple((tuple(route_values.items()), percent) for route_values, percent in declared)
    return dict(_receipt_shares(material, key))


@lru_cache(maxsize=4096)
def _receipt_shares(
    material: str, declared: tuple[tuple[tuple[tuple[str, str], ...], Fraction], ...]
) -> dict[Route, Fraction]:
    shares: dict[Route, Fraction] = defaultdict(Fraction)
    declared_total = Fraction(0)
    for route_items, percent in declared:
        if percent <= 0:
            raise OriginRuleError("declared percents must be positive")
        shares[declared_route(material, dict(route_items))] += percent / 100
        declared_total += percent
    if declared_total > 100:
        raise OriginRuleError(
            f"declared percents sum to {Decimal(declared_total.numerator) / declared_total.denominator}, more than 100"
        )
    remainder = 1 - declared_total / 100
    if remainder:
        shares[default_route(material)] += remainder
    return dict(shares)


def receipt_origin(
    composition: Mapping[str, Fraction],
    material: str,
    declared: Sequence[tuple[Mapping[str, str], Fraction]],
) -> Origin:
    return spread(composition, receipt_shares(material, declared))


@dataclass(frozen=True)
class LotState:
    """What the engine needs of a lot: its composition, origin and mode."""

    composition: Composition
    origin: Origin
    element_resolved: bool


@dataclass(frozen=True)
class Pool:
    composition: Composition
    origin: Origin
    element_resolved: bool

    @property
    def routes(self) -> dict[Route, Fraction]:
        return route_totals(self.origin)


def make_pool(inputs: Sequence[tuple[Fraction, LotState]], outputs_resolved: bool = True) -> Pool:
    """The fraction ``f`` of each input lot's composition and origin, added up."""
    composition: dict[str, Fraction] = {}
    origin: dict[str, dict[Route, Fraction]] = {}
    resolved = outputs_resolved
    for fraction, lot in inputs:
        resolved = resolved and lot.element_resolved and is_resolved_composition(lot.composition)
        # A lot consumed whole adds its own kilograms: multiplying each by one costs as much as any product.
        whole = fraction == 1
        for element, kg in lot.composition.items():
            _add(composition, element, kg if whole else fraction * kg)
        for element, routes in lot.origin.items():
            for route, kg in routes.items():
                _add(origin.setdefault(element, {}), route, kg if whole else fraction * kg)
    return Pool(
        composition=clean_composition(composition),
        origin={e: {r: kg for r, kg in routes.items() if kg} for e, routes in origin.items() if any(routes.values())},
        element_resolved=resolved,
    )


def derive_compositions(pool: Pool, quantities: Sequence[Decimal]) -> list[Composition]:
    """Split the pool over outputs in proportion to their quantities, keeping the pool's keys."""
    whole = sum((Fraction(q) for q in quantities), Fraction(0))
    if not pool.composition:
        return [{} for _ in quantities]
    # kg x (q / whole) is kg x q / whole exactly; one output takes the whole pool (share 1) as it is.
    shares = [Fraction(q) / whole for q in quantities]
    return [{e: kg if share == 1 else kg * share for e, kg in pool.composition.items()} for share in shares]


def mass_balance_excess(pool: Pool, outputs: Sequence[Mapping[str, Fraction]], tolerance: Fraction) -> list[str]:
    """Elements (or ``["total"]`` when pooled) where outputs hold more than ``pool x (1 + tolerance)``."""
    limit = 1 + tolerance
    if pool.element_resolved:
        produced: dict[str, Fraction] = defaultdict(Fraction)
        for composition in outputs:
            for element, kg in composition.items():
                produced[element] += kg
        return [
            element
            for element in sorted(produced, key=symbol_order)
            if produced[element] > pool.composition.get(element, Fraction(0)) * limit
        ]
    produced_total = sum((total(c) for c in outputs), Fraction(0))
    return ["total"] if produced_total > total(pool.composition) * limit else []


def distribute(pool: Pool, composition: Mapping[str, Fraction]) -> Origin:
    """An output's origin: each element takes the pool's routes in the pool's proportions.

    Element-resolved, the routes of that element; pooled, the routes of the
    whole pool, since ``REE`` input may hide any element.
    """
    origin: Origin = {}
    if pool.element_resolved:
        for element, kg in composition.items():
            if kg != 0:
                routes = pool.origin[element]
                origin[element] = _scale(routes, kg / pool.composition[element]) if routes else {}
        return origin
    routes = pool.routes
    whole = total(pool.composition)
    for element, kg in composition.items():
        if kg != 0:
            origin[element] = _scale(routes, kg / whole) if routes else {}
    return origin


def _scale(routes: Mapping[Route, Fraction], ratio: Fraction) -> dict[Route, Fraction]:
    """Each route's kilograms times ``ratio`` (``kg / whole``: the same as ``part * kg / whole``, exactly)."""
    if ratio == 1:  # an output taking all of the pool's element, as a chain's one output does
        return {route: part for route, part in routes.items() if part}
    return _merge((route, part * ratio) for route, part in routes.items())


@lru_cache(maxsize=4096)
def attribute_route(route: Route, stage: str, country: str) -> Route:
    """The route after processing at ``stage`` in ``country`` (ORIGIN.md, Attribution)."""
    i = stage_index(stage)
    values = list(route)
    if stage != "mining":
        values[i] = country
    for later in range(i + 1, len(STAGES)):
        values[later] = NONE
    for implied in IMPLIED_STAGES.get(stage, ()):
        j = stage_index(implied)
        if values[j] == NONE:
            values[j] = country
    return tuple(values)


def attribute(origin: Origin, stage: str | None, country: str) -> Origin:
    if stage is None:
        return origin
    return {
        element: _merge((attribute_route(route, stage, country), kg) for route, kg in routes.items())
        for element, routes in origin.items()
    }


def route_totals(origin: Origin) -> dict[Route, Fraction]:
    """Kilograms per route over all elements."""
    return _merge((route, kg) for routes in origin.values() for route, kg in routes.items())


def sorted_routes(routes: Mapping[Route, N]) -> list[tuple[Route, N]]:
    """Largest first; ties in stage order, alphabetically."""
    # A Fraction's denominator is positive, so its numerator carries its sign (and is cheaper to look at).
    positive = [(r, kg) for r, kg in routes.items() if kg.numerator > 0]
    if len(positive) > 1:
        positive.sort(key=lambda item: (-item[1], item[0]))
    return positive


def stage_marginals(routes: Mapping[Route, N]) -> dict[str, dict[str, N]]:
    """Kilograms by each stage's value, for all five stages."""
    marginals: dict[str, dict[str, N]] = {stage: {} for stage in STAGES}
    for route, kg in routes.items():
        for stage, value in zip(STAGES, route, strict=True):
            _add(marginals[stage], value, kg)
    return {stage: dict(sorted(values.items())) for stage, values in marginals.items()}


def stored_origin(origin: Origin) -> Origin:
    """The origin as it reads back once stored (``decode_origin(encode_origin(origin))``): ordered, no empty routes."""
    return {element: dict(sorted_routes(origin[element])) for element in sorted(origin, key=symbol_order)}


def encode_origin(origin: Origin) -> dict[str, list[list[str]]]:
    """The exact text form of an origin: elements in periodic order, routes largest first."""
    return encode_stored_origin(stored_origin(origin))


def encode_stored_origin(stored: Origin) -> dict[str, list[list[str]]]:
    """``encode_origin`` of an origin already in its stored order."""
    return {element: [[*route, str(kg)] for route, kg in routes.items()] for element, routes in stored.items()}


def decode_origin(stored: StoredOrigin) -> Origin:
    return {element: {tuple(row[:-1]): Fraction(row[-1]) for row in rows} for element, rows in stored.items()}
