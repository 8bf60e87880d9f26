"""Invariants of the origin engine that the worked examples cannot pin down alone (ORIGIN.md)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numbers import format_percent
from service.origin import (
    ELEMENTS,
    NONE,
    RECYCLED,
    REE,
    STAGES,
    UNKNOWN,
    Composition,
    LotState,
    Origin,
    Pool,
    Route,
    attribute,
    clean_composition,
    derive_compositions,
    distribute,
    is_resolved_composition,
    make_pool,
    mass_balance_excess,
    route_totals,
    spread,
    stage_marginals,
    total,
)
from service.questions import Exposure, Question
from service.questions import exposure as exposure_of_origin


def exposure(routes: Mapping[Route, Fraction], countries: Sequence[str], stages: Sequence[str]) -> Exposure:
    """The question's kilograms over routes of one element (the engine's per-element rule reduced to routes)."""
    return exposure_of_origin({"Nd": dict(routes)}, Question(tuple(countries), tuple(stages)))


PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)
COUNTRIES = ("CN", "AU", "MY", "JP", "US", "EE")
VALUES = (*COUNTRIES, UNKNOWN, NONE)
SOME_ELEMENTS = ("La", "Pr", "Nd", "Tb", "Dy", "Y")
ASKED = ("mining", "refining", "metal_making", "magnet_making")

kilograms = st.builds(Fraction, st.integers(1, 10**9), st.sampled_from([1, 10, 1000, 10**6, 10**12]))
fractions_of_a_lot = st.tuples(st.integers(1, 1000), st.integers(1, 1000)).map(lambda t: Fraction(min(t), max(t)))
portions = st.integers(0, 1000).map(lambda n: Fraction(n, 1000))
quantities = st.builds(lambda n, places: Decimal(n).scaleb(-places), st.integers(1, 10**9), st.integers(0, 12))
stages_or_none = st.sampled_from((None, *STAGES))
routes = st.tuples(st.sampled_from((*VALUES, RECYCLED)), *[st.sampled_from(VALUES) for _ in STAGES[1:]])
route_lists = st.lists(routes, min_size=1, max_size=3, unique=True)
weight_lists = st.lists(st.integers(1, 1000), min_size=3, max_size=3)
element_lists = {
    True: st.lists(st.sampled_from(SOME_ELEMENTS), min_size=1, max_size=4, unique=True),
    False: st.lists(st.sampled_from((*SOME_ELEMENTS, REE)), min_size=1, max_size=4, unique=True),
}
output_symbol_lists = st.lists(st.sampled_from((*ELEMENTS, REE)), min_size=1, max_size=4, unique=True)


@st.composite
def lots(draw: st.DrawFn, resolved: bool) -> LotState:
    """An element-resolved lot, or a pooled one (flagged so, and perhaps holding ``REE``).

    Each element's kilograms are spread over one to three routes in random exact proportions.
    """
    composition = {element: draw(kilograms) for element in draw(element_lists[resolved])}
    origin: Origin = {}
    for element, kg in composition.items():
        chosen = draw(route_lists)
        weights = draw(weight_lists)[: len(chosen)]
        origin[element] = {route: kg * w / sum(weights) for route, w in zip(chosen, weights, strict=True)}
    return LotState(composition=composition, origin=origin, element_resolved=resolved)


resolved_lots = lots(resolved=True)
pooled_lots = lots(resolved=False)


@dataclass(frozen=True)
class Event:
    inputs: list[tuple[Fraction, LotState]]
    outputs: list[Composition]
    stage: str | None
    country: str

    def pool(self) -> Pool:
        return make_pool(self.inputs, outputs_resolved=all(is_resolved_composition(c) for c in self.outputs))

    def origins(self) -> list[Origin]:
        pool = self.pool()
        return [attribute(distribute(pool, c), self.stage, self.country) for c in self.outputs]


@st.composite
def input_lists(draw: st.DrawFn, resolved: bool) -> list[tuple[Fraction, LotState]]:
    if resolved:
        return draw(st.lists(st.tuples(fractions_of_a_lot, resolved_lots), min_size=1, max_size=4))
    pooled = draw(st.tuples(fractions_of_a_lot, pooled_lots))
    others = draw(st.lists(st.tuples(fractions_of_a_lot, resolved_lots | pooled_lots), max_size=3))
    position = draw(st.integers(0, len(others)))
    return [*others[:position], pooled, *others[position:]]


@st.composite
def events(draw: st.DrawFn, resolved: bool) -> Event:
    """A processing event whose outputs give compositions that pass the mass balance."""
    inputs = draw(input_lists(resolved))
    pool = make_pool(inputs)
    count = draw(st.integers(1, 4))
    outputs: list[Composition] = []
    for _ in range(count):
        if resolved:
            # Each output takes at most 1/count of each of the pool's elements, and leaves some out.
            taken = {e: kg * draw(portions) / count for e, kg in pool.composition.items()}
            first = next(iter(pool.composition))
            outputs.append({e: kg for e, kg in taken.items() if kg} or {first: pool.composition[first] / count})
        else:
            symbols = draw(output_symbol_lists)
            share = total(pool.composition) * draw(fractions_of_a_lot) / count / len(symbols)
            outputs.append(dict.fromkeys(symbols, share))
    stage = draw(stages_or_none)
    country = draw(st.sampled_from(COUNTRIES))
    return Event(inputs=inputs, outputs=outputs, stage=stage, country=country)


thresholds = st.builds(Fraction, st.integers(0, 100_000), st.just(1000))


@st.composite
def questions(draw: st.DrawFn) -> tuple[list[str], list[str], Fraction]:
    countries = draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, unique=True))
    stages = draw(st.lists(st.sampled_from(STAGES), min_size=1, unique=True))
    threshold = draw(thresholds)
    return countries, stages, threshold


def answer_of(
    routes: dict[Route, Fraction], question: tuple[list[str], list[str], Fraction]
) -> tuple[str, Fraction, Fraction]:
    countries, stages, threshold = question
    found = exposure(routes, countries, stages)
    return found.answer(threshold), found.share_percent, found.unknown_percent


MODES = pytest.mark.parametrize("resolved", [True, False], ids=["element-resolved", "pooled"])


@MODES
@PROPERTY
@given(data=st.data())
def test_route_kilograms_of_each_element_sum_to_the_composition(resolved: bool, data: st.DataObject) -> None:
    event = data.draw(events(resolved))
    pool = event.pool()
    assert pool.element_resolved == resolved
    assert mass_balance_excess(pool, event.outputs, Fraction(0)) == []
    for composition, origin in zip(event.outputs, event.origins(), strict=True):
        assert set(origin) == set(composition)
        for element, kg in composition.items():
            assert sum(origin[element].values(), Fraction(0)) == kg
            assert all(part > 0 for part in origin[element].values())


@MODES
@PROPERTY
@given(data=st.data())
def test_each_output_element_takes_the_pools_proportions(resolved: bool, data: st.DataObject) -> None:
    """Element-resolved, an element's own routes in the pool; pooled, the whole pool's routes."""
    event = data.draw(events(resolved))
    pool = event.pool()
    for composition in event.outputs:
        origin = distribute(pool, composition)
        for element, kg in composition.items():
            if resolved:
                expected = {r: part / pool.composition[element] for r, part in pool.origin[element].items()}
            else:
                expected = {r: part / total(pool.composition) for r, part in pool.routes.items()}
            assert {r: part / kg for r, part in origin[element].items()} == expected


@MODES
@PROPERTY
@given(data=st.data())
def test_derived_outputs_conserve_mass_and_routes(resolved: bool, data: st.DataObject) -> None:
    inputs = data.draw(input_lists(resolved))
    amounts = data.draw(st.lists(quantities, min_size=1, max_size=5))
    pool = make_pool(inputs)
    derived = derive_compositions(pool, amounts)
    assert mass_balance_excess(pool, derived, Fraction(0)) == []

    for element, kg in pool.composition.items():
        assert sum((c[element] for c in derived), Fraction(0)) == kg
    routes_out: dict[Route, Fraction] = {}
    for composition in derived:
        for route, kg in route_totals(distribute(pool, composition)).items():
            routes_out[route] = routes_out.get(route, Fraction(0)) + kg
    assert routes_out == pool.routes
    assert sum(routes_out.values(), Fraction(0)) == total(pool.composition)


@MODES
@PROPERTY
@given(data=st.data())
def test_stage_marginals_add_up_to_the_total(resolved: bool, data: st.DataObject) -> None:
    event = data.draw(events(resolved))
    for origin in event.origins():
        routes = route_totals(origin)
        whole = sum(routes.values(), Fraction(0))
        marginals = stage_marginals(routes)
        assert tuple(marginals) == STAGES
        for stage, values in marginals.items():
            assert sum(values.values(), Fraction(0)) == whole, stage
            assert sum((100 * kg / whole for kg in values.values()), Fraction(0)) == 100, stage
        if event.stage is not None:
            # Every stage after the event's own is 'none' for all of the mass.
            for later in STAGES[STAGES.index(event.stage) + 1 :]:
                assert marginals[later] == {NONE: whole}


@MODES
@PROPERTY
@given(data=st.data())
def test_answers_do_not_depend_on_the_order_of_inputs_or_outputs(resolved: bool, data: st.DataObject) -> None:
    event = data.draw(events(resolved))
    question = data.draw(questions())
    input_order = data.draw(st.permutations(range(len(event.inputs))))
    output_order = data.draw(st.permutations(range(len(event.outputs))))
    shuffled = Event(
        inputs=[event.inputs[i] for i in input_order],
        outputs=[event.outputs[i] for i in output_order],
        stage=event.stage,
        country=event.country,
    )
    assert shuffled.pool() == event.pool()
    expected = [answer_of(route_totals(origin), question) for origin in event.origins()]
    actual = [answer_of(route_totals(origin), question) for origin in shuffled.origins()]
    assert actual == [expected[i] for i in output_order]


@MODES
@PROPERTY
@given(data=st.data())
def test_splitting_a_lot_and_recombining_changes_no_share(resolved: bool, data: st.DataObject) -> None:
    lot = data.draw(lots(resolved))
    question = data.draw(questions())
    weights = data.draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=6))
    before = answer_of(route_totals(lot.origin), question)

    # Consuming the lot in several parts is consuming it whole.
    parts = [(Fraction(w, sum(weights)), lot) for w in weights]
    whole = make_pool([(Fraction(1), lot)])
    assert make_pool(parts) == whole

    # Splitting it into separate lots keeps each part's shares, and putting them back together too.
    amounts = [Decimal(w) for w in weights]
    split_lots = [
        LotState(composition, distribute(whole, composition), whole.element_resolved)
        for composition in derive_compositions(whole, amounts)
    ]
    for part in split_lots:
        assert answer_of(route_totals(part.origin), question) == before
    recombined = make_pool([(Fraction(1), part) for part in split_lots])
    assert recombined.composition == whole.composition
    assert recombined.routes == whole.routes
    assert answer_of(recombined.routes, question) == before


@PROPERTY
@given(
    bulk=kilograms,
    ree_trace=st.booleans(),
    stage=stages_or_none,
    country=st.sampled_from([c for c in COUNTRIES if c != "CN"]),
)
def test_a_trace_of_one_part_in_a_trillion_is_still_yes(
    bulk: Fraction, ree_trace: bool, stage: str | None, country: str
) -> None:
    trace_kg = bulk / 10**12
    big = LotState({"Nd": bulk}, {"Nd": {("AU", "MY", NONE, NONE, NONE): bulk}}, element_resolved=True)
    symbol = REE if ree_trace else "Nd"
    trace = LotState(
        {symbol: trace_kg}, {symbol: {("CN", "CN", NONE, NONE, NONE): trace_kg}}, element_resolved=not ree_trace
    )
    event_pool = make_pool([(Fraction(1), big), (Fraction(1), trace)])
    [composition] = derive_compositions(event_pool, [Decimal(1)])
    origin = attribute(distribute(event_pool, composition), stage, country)

    found = exposure(route_totals(origin), ["CN"], ASKED)
    assert found.hit == trace_kg
    assert found.share_percent == Fraction(100, 10**12 + 1)
    assert found.answer(Fraction(0)) == "yes"
    assert format_percent(found.share_percent) == "0"
    assert found.answer(Fraction(1, 10**9)) == "no"


@MODES
@PROPERTY
@given(data=st.data())
def test_the_shortcuts_for_whole_lots_and_single_routes_give_what_the_general_rule_gives(
    resolved: bool, data: st.DataObject
) -> None:
    """Consuming a lot whole, one output taking the whole pool, one route taking everything: the engine
    skips multiplying by one there, and must land on exactly what multiplying gives."""
    lot = data.draw(lots(resolved))
    share = data.draw(fractions_of_a_lot)
    whole = make_pool([(Fraction(1), lot)])
    assert whole == make_pool([(share, lot), (1 - share, lot)])  # the general rule, in two parts
    assert whole.composition == clean_composition({e: kg * Fraction(1) for e, kg in lot.composition.items()})

    (derived,) = derive_compositions(whole, [data.draw(quantities)])
    assert derived == whole.composition
    if whole.element_resolved:
        assert distribute(whole, derived) == {e: routes for e, routes in whole.origin.items() if e in derived}

    route, other = data.draw(st.lists(routes, min_size=2, max_size=2, unique=True))
    assert spread(lot.composition, {route: Fraction(1)}) == spread(
        lot.composition, {route: Fraction(1), other: Fraction(0)}
    )
    assert spread(lot.composition, {route: Fraction(1)}) == {e: {route: kg} for e, kg in lot.composition.items() if kg}
