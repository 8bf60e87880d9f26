"""The pure origin engine and the number helpers, checked with the worked examples' numbers (ORIGIN.md)."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import pytest

from service.numbers import MAX_INTEGER_DIGITS, _format_ratio, format_decimal, format_kg, format_percent, parse_decimal
from service.origin import (
    NONE,
    RECYCLED,
    UNKNOWN,
    Composition,
    LotState,
    Origin,
    OriginRuleError,
    Pool,
    Route,
    attribute,
    attribute_route,
    clean_composition,
    declared_route,
    default_route,
    derive_compositions,
    distribute,
    extraction_origin,
    is_resolved_composition,
    make_pool,
    mass_balance_excess,
    receipt_origin,
    receipt_shares,
    route_totals,
    sorted_routes,
    stage_marginals,
)
from service.questions import NO_EXPOSURE, Exposure, Question, worst
from service.questions import exposure as exposure_of_origin


def exposure(routes: Mapping[Route, Fraction], countries: Sequence[str], stages: Sequence[str]) -> Exposure:
    """The question's kilograms over routes of one element (the engine's per-element rule reduced to routes)."""
    return exposure_of_origin({"Nd": dict(routes)}, Question(tuple(countries), tuple(stages)))


TOLERANCE = Fraction("0.005")
ASKED = ("mining", "refining", "metal_making", "magnet_making")
EVERY_STAGE = (*ASKED, "manufacturing")


def kg(text: str) -> Fraction:
    return Fraction(text)


def comp(**kgs: str) -> Composition:
    return {element: Fraction(value) for element, value in kgs.items()}


def route(*values: str) -> Route:
    """A route from its first stages; the stages not given are ``none``."""
    return (*values, *[NONE] * (5 - len(values)))


def extracted(country: str, composition: Composition) -> LotState:
    return LotState(composition, extraction_origin(composition, country), is_resolved_composition(composition))


def received(
    material: str, composition: Composition, declared: Sequence[tuple[Mapping[str, str], Fraction]] = ()
) -> LotState:
    origin = receipt_origin(composition, material, declared)
    return LotState(composition, origin, is_resolved_composition(composition))


def process(
    inputs: Sequence[tuple[Fraction, LotState]],
    outputs: Sequence[Composition],
    stage: str | None,
    country: str,
) -> tuple[Pool, list[Origin]]:
    """A processing event as ``events.py`` computes it, given output compositions."""
    pool = make_pool(inputs, outputs_resolved=all(is_resolved_composition(c) for c in outputs))
    return pool, [attribute(distribute(pool, c), stage, country) for c in outputs]


def as_lot(pool: Pool, composition: Composition, origin: Origin) -> LotState:
    return LotState(clean_composition(composition), origin, pool.element_resolved)


def assess(
    origin: Origin, countries: Sequence[str], stages: Sequence[str] = ASKED, threshold: str = "0"
) -> tuple[str, Fraction, Fraction]:
    found = exposure(route_totals(origin), countries, stages)
    return found.answer(Fraction(threshold)), found.share_percent, found.unknown_percent


def expect(answer: str, share: int | str, unknown: int | str) -> tuple[str, Fraction, Fraction]:
    return answer, Fraction(share), Fraction(unknown)


# Vectors -------------------------------------------------------------------------------------


def test_single_chain_reaches_the_product_without_china() -> None:
    mine = extracted("AU", comp(Nd="900", Pr="300", La="1500", Ce="2500"))
    assert route_totals(mine.origin) == {route("AU"): kg("5200")}

    _, [oxide] = process([(Fraction(1), mine)], [comp(Nd="880", Pr="290")], "refining", "MY")
    assert route_totals(oxide) == {route("AU", "MY"): kg("1170")}
    oxide_lot = LotState(comp(Nd="880", Pr="290"), oxide, True)

    _, [magnet] = process([(Fraction(1), oxide_lot)], [comp(Nd="870", Pr="285")], "magnet_making", "JP")
    assert route_totals(magnet) == {route("AU", "MY", "JP", "JP"): kg("1155")}
    magnet_lot = LotState(comp(Nd="870", Pr="285"), magnet, True)

    pool = make_pool([(Fraction(1), magnet_lot)])
    [motor_comp] = derive_compositions(pool, [Decimal("500")])
    motor = attribute(distribute(pool, motor_comp), "manufacturing", "US")
    assert route_totals(motor) == {route("AU", "MY", "JP", "JP", "US"): kg("1155")}

    assert assess(motor, ["CN"]) == expect("no", 0, 0)
    assert assess(motor, ["JP"]) == expect("yes", 100, 0)
    assert assess(motor, ["US"]) == expect("no", 0, 0)
    assert assess(motor, ["US"], EVERY_STAGE) == expect("yes", 100, 0)


def test_blend_refined_in_china_is_forty_percent_chinese_mining() -> None:
    chinese = extracted("CN", comp(Nd="400", Pr="100"))
    australian = extracted("AU", comp(Nd="600", Pr="150"))
    pool, [oxide] = process(
        [(Fraction(1), australian), (Fraction(1), chinese)], [comp(Nd="1000", Pr="250")], "refining", "CN"
    )
    assert pool.element_resolved
    assert route_totals(oxide) == {route("AU", "CN"): kg("750"), route("CN", "CN"): kg("500")}
    assert oxide["Nd"] == {route("AU", "CN"): kg("600"), route("CN", "CN"): kg("400")}
    assert oxide["Pr"] == {route("AU", "CN"): kg("150"), route("CN", "CN"): kg("100")}

    assert assess(oxide, ["CN"]) == expect("yes", 100, 0)
    assert assess(oxide, ["CN"], ["mining"]) == expect("yes", 40, 0)
    assert assess(oxide, ["AU"], ["mining"]) == expect("yes", 60, 0)


def test_separation_keeps_each_elements_own_origin() -> None:
    clay = received("concentrate", comp(Dy="40", Tb="8", Nd="100"), [({"mining": "MM"}, Fraction(100))])
    australian = received("concentrate", comp(Dy="10", Nd="900"), [({"mining": "AU"}, Fraction(100))])
    assert route_totals(clay.origin) == {route("MM"): kg("148")}

    outputs = [comp(Dy="49.5"), comp(Tb="7.9"), comp(Nd="990")]
    pool, [dy, tb, nd] = process([(Fraction(1), clay), (Fraction(1), australian)], outputs, "refining", "EE")
    assert pool.element_resolved
    assert mass_balance_excess(pool, outputs, TOLERANCE) == []
    assert dy == {"Dy": {route("MM", "EE"): kg("39.6"), route("AU", "EE"): kg("9.9")}}
    assert tb == {"Tb": {route("MM", "EE"): kg("7.9")}}
    assert nd == {"Nd": {route("AU", "EE"): kg("891"), route("MM", "EE"): kg("99")}}

    assert assess(dy, ["MM"], ["mining"]) == expect("yes", 80, 0)
    assert assess(nd, ["MM"], ["mining"]) == expect("yes", 10, 0)
    assert assess(tb, ["AU"], ["mining"]) == expect("no", 0, 0)


def test_ree_input_pools_the_event_and_every_element_takes_the_whole_pool() -> None:
    chinese = received("oxide", comp(REE="80"), [({"mining": "CN", "refining": "CN"}, Fraction(100))])
    australian = received("oxide", comp(Nd="60", Dy="20"), [({"mining": "AU", "refining": "MY"}, Fraction(100))])
    assert not chinese.element_resolved
    assert australian.element_resolved

    outputs = [comp(Nd="110", Dy="45")]
    pool, [metal] = process([(Fraction(1), chinese), (Fraction(1), australian)], outputs, "metal_making", "EE")
    assert not pool.element_resolved
    assert mass_balance_excess(pool, outputs, TOLERANCE) == []
    assert route_totals(metal) == {route("AU", "MY", "EE"): kg("77.5"), route("CN", "CN", "EE"): kg("77.5")}
    assert metal["Nd"] == {route("AU", "MY", "EE"): kg("55"), route("CN", "CN", "EE"): kg("55")}
    assert metal["Dy"] == {route("AU", "MY", "EE"): kg("22.5"), route("CN", "CN", "EE"): kg("22.5")}

    assert assess(metal, ["CN"]) == expect("yes", 50, 0)
    assert assess(metal, ["CN"], ["mining"]) == expect("yes", 50, 0)
    assert assess(metal, ["EE"]) == expect("yes", 100, 0)


def test_declared_receipts_defaults_and_remainder() -> None:
    declared = received(
        "oxide",
        comp(Nd="400"),
        [
            ({"mining": "CN", "refining": "CN"}, Fraction(60)),
            ({"mining": "AU", "refining": "MY"}, Fraction(30)),
        ],
    )
    assert declared.origin == {
        "Nd": {
            route("CN", "CN"): kg("240"),
            route("AU", "MY"): kg("120"),
            route(UNKNOWN, UNKNOWN): kg("40"),
        }
    }
    assert assess(declared.origin, ["CN"]) == expect("yes", 60, 10)

    clean = received("oxide", comp(Nd="400"), [({"mining": "AU", "refining": "MY"}, Fraction(100))])
    assert clean.origin == {"Nd": {route("AU", "MY"): kg("400")}}
    assert assess(clean.origin, ["CN"]) == expect("no", 0, 0)

    undeclared = received("metal", comp(Nd="99"))
    assert undeclared.origin == {"Nd": {route(UNKNOWN, UNKNOWN, UNKNOWN): kg("99")}}
    assert assess(undeclared.origin, ["CN"]) == expect("unknown", 0, 100)

    half = received("oxide", comp(Nd="80"), [({"mining": "US", "refining": "US"}, Fraction(50))])
    assert half.origin == {"Nd": {route("US", "US"): kg("40"), route(UNKNOWN, UNKNOWN): kg("40")}}
    assert assess(half.origin, ["CN"], threshold="0") == expect("unknown", 0, 50)
    assert assess(half.origin, ["CN"], threshold="49.9") == expect("unknown", 0, 50)
    assert assess(half.origin, ["CN"], threshold="50") == expect("no", 0, 50)

    phosphor_route = {
        "mining": "CN",
        "refining": "CN",
        "metal_making": NONE,
        "magnet_making": NONE,
        "manufacturing": "VN",
    }
    phosphor = received("product", comp(Y="0.2", Eu="0.01"), [(phosphor_route, Fraction(100))])
    assert route_totals(phosphor.origin) == {route("CN", "CN", NONE, NONE, "VN"): kg("0.21")}
    assert assess(phosphor.origin, ["CN"], ["magnet_making"]) == expect("no", 0, 0)
    assert assess(phosphor.origin, ["CN"]) == expect("yes", 100, 0)


def test_a_milligram_in_a_thousand_tonnes_is_still_yes() -> None:
    big = received("oxide", comp(Nd="850000"), [({"mining": "AU", "refining": "MY"}, Fraction(100))])
    tiny = received("oxide", comp(Nd="0.000001"), [({"mining": "CN", "refining": "CN"}, Fraction(100))])
    pool = make_pool([(Fraction(1), big), (Fraction(1), tiny)])
    [mix_comp] = derive_compositions(pool, [Decimal("1000000.000001")])
    mix = attribute(distribute(pool, mix_comp), None, "CA")
    assert route_totals(mix) == {route("AU", "MY"): kg("850000"), route("CN", "CN"): kg("0.000001")}

    answer, share, unknown = assess(mix, ["CN"])
    assert answer == "yes"
    assert unknown == 0
    assert share == Fraction(100, 850000000001)
    assert format_percent(share) == "0"
    assert assess(mix, ["CN"], threshold="0.1")[0] == "no"
    assert assess(mix, ["CA"], ["refining"]) == expect("no", 0, 0)


def test_partial_consumption_takes_the_fraction_of_the_lot() -> None:
    lot = extracted("AU", comp(Nd="10"))
    pool = make_pool([(Fraction(60, 100), lot)])
    assert pool.composition == comp(Nd="6")
    assert pool.origin == {"Nd": {route("AU"): kg("6")}}


def test_processing_at_the_mining_stage_keeps_the_mining_country() -> None:
    ore = received("ore", comp(Dy="0.4", Tb="0.1"), [({"mining": "MM"}, Fraction(100))])
    _, [concentrate] = process([(Fraction(1), ore)], [comp(Dy="0.39", Tb="0.1")], "mining", "CN")
    assert route_totals(concentrate) == {route("MM"): kg("0.49")}
    assert assess(concentrate, ["CN"]) == expect("no", 0, 0)
    assert assess(concentrate, ["MM"], ["mining"]) == expect("yes", 100, 0)


def test_recycled_scrap_refined_again_is_new_oxide() -> None:
    scrap = received("magnet", comp(Nd="500", Pr="120", Dy="30"), [({"mining": RECYCLED}, Fraction(100))])
    assert route_totals(scrap.origin) == {route(RECYCLED, UNKNOWN, UNKNOWN, UNKNOWN): kg("650")}

    _, [oxide] = process([(Fraction(1), scrap)], [comp(Nd="490", Pr="118", Dy="29")], "refining", "FR")
    assert route_totals(oxide) == {route(RECYCLED, "FR"): kg("637")}
    assert assess(oxide, ["FR"]) == expect("yes", 100, 0)
    assert assess(oxide, ["CN"]) == expect("no", 0, 0)

    oxide_lot = LotState(comp(Nd="490", Pr="118", Dy="29"), oxide, True)
    pool = make_pool([(Fraction(300, 700), oxide_lot)])
    [fan_comp] = derive_compositions(pool, [Decimal("100")])
    fan = attribute(distribute(pool, fan_comp), "manufacturing", "US")
    assert route_totals(fan) == {route(RECYCLED, "FR", NONE, NONE, "US"): kg("273")}


def test_derived_split_shares_the_pool_by_quantity() -> None:
    all_cn = {"mining": "CN", "refining": "CN", "metal_making": "CN", "magnet_making": "CN"}
    all_us = {"mining": "US", "refining": "US", "metal_making": "US", "magnet_making": "US"}
    chinese = received("magnet", comp(Nd="3", Tb="0.1"), [(all_cn, Fraction(100))])
    american = received("magnet", comp(Nd="9", Tb="0.3"), [(all_us, Fraction(100))])
    pool = make_pool([(Fraction(1), chinese), (Fraction(1), american)])

    a_comp, b_comp = derive_compositions(pool, [Decimal("15"), Decimal("5")])
    assert a_comp == comp(Nd="9", Tb="0.3")
    assert b_comp == comp(Nd="3", Tb="0.1")
    assert mass_balance_excess(pool, [a_comp, b_comp], Fraction(0)) == []

    a = attribute(distribute(pool, a_comp), "manufacturing", "US")
    b = attribute(distribute(pool, b_comp), "manufacturing", "US")
    assert route_totals(a) == {
        route("US", "US", "US", "US", "US"): kg("6.975"),
        route("CN", "CN", "CN", "CN", "US"): kg("2.325"),
    }
    assert route_totals(b) == {
        route("US", "US", "US", "US", "US"): kg("2.325"),
        route("CN", "CN", "CN", "CN", "US"): kg("0.775"),
    }
    assert assess(a, ["CN"]) == expect("yes", 25, 0)
    assert assess(b, ["US"]) == expect("yes", 75, 0)
    assert assess(a, ["CN"], ["mining"]) == expect("yes", 25, 0)


def test_sku_exposure_adds_lots_and_the_worst_lot_decides() -> None:
    japanese = Exposure(hit=Fraction(0), unknown=Fraction(0), total=kg("21"))
    unknown = Exposure(hit=Fraction(0), unknown=kg("21"), total=kg("21"))
    chinese = Exposure(hit=kg("10.5"), unknown=Fraction(0), total=kg("10.5"))
    answers = [e.answer(Fraction(0)) for e in (japanese, unknown, chinese)]
    assert answers == ["no", "unknown", "yes"]

    whole = NO_EXPOSURE + japanese + unknown + chinese
    assert whole == Exposure(kg("10.5"), kg("21"), kg("52.5"))
    assert whole.share_percent == 20
    assert whole.unknown_percent == 40
    assert worst(answers) == "yes"
    assert worst(answers[:2]) == "unknown"
    assert worst(["no"]) == "no"
    assert worst([]) is None


# Receipts ------------------------------------------------------------------------------------


def test_default_route_is_unknown_up_to_the_materials_stage() -> None:
    assert default_route("ore") == route(UNKNOWN)
    assert default_route("concentrate") == route(UNKNOWN)
    assert default_route("intermediate") == route(UNKNOWN, UNKNOWN)
    assert default_route("oxide") == route(UNKNOWN, UNKNOWN)
    assert default_route("alloy") == route(UNKNOWN, UNKNOWN, UNKNOWN)
    assert default_route("magnet") == route(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
    assert default_route("product") == (UNKNOWN,) * 5


def test_declared_route_overrides_the_defaults_stage_by_stage() -> None:
    assert declared_route("magnet", {"refining": "MY"}) == route(UNKNOWN, "MY", UNKNOWN, UNKNOWN)
    # A phosphor never was a magnet: 'none' on a skipped stage is allowed.
    assert declared_route("product", {"magnet_making": NONE}) == (UNKNOWN, UNKNOWN, UNKNOWN, NONE, UNKNOWN)
    # 'none' after the material's own stage repeats the default.
    assert declared_route("oxide", {"magnet_making": NONE}) == route(UNKNOWN, UNKNOWN)
    assert declared_route("ore", {"mining": RECYCLED}) == route(RECYCLED)


def test_undeclared_receipt_is_all_unknown_up_to_its_stage() -> None:
    assert receipt_shares("oxide", []) == {route(UNKNOWN, UNKNOWN): Fraction(1)}


def test_declared_percents_summing_to_100_leave_no_remainder() -> None:
    shares = receipt_shares(
        "oxide", [({"mining": "AU"}, Fraction(99, 2)), ({"mining": "CN", "refining": "CN"}, Fraction(101, 2))]
    )
    assert shares == {route("AU", UNKNOWN): Fraction(99, 200), route("CN", "CN"): Fraction(101, 200)}


def test_equal_declared_routes_merge_and_the_remainder_merges_with_the_default() -> None:
    shares = receipt_shares(
        "oxide",
        [
            ({"mining": "AU"}, Fraction(30)),
            ({"mining": "AU", "refining": UNKNOWN}, Fraction(20)),
            ({"refining": UNKNOWN}, Fraction(10)),
        ],
    )
    assert shares == {route("AU", UNKNOWN): Fraction(1, 2), route(UNKNOWN, UNKNOWN): Fraction(1, 2)}


def test_a_declaration_seen_before_gives_the_same_shares_and_a_refused_one_is_refused_again() -> None:
    declared = [({"mining": "AU"}, Fraction(60))]
    expected = {route("AU", UNKNOWN): Fraction(3, 5), route(UNKNOWN, UNKNOWN): Fraction(2, 5)}
    first = receipt_shares("oxide", declared)
    assert first == expected
    first.clear()  # the caller's own copy
    assert receipt_shares("oxide", declared) == expected
    assert receipt_shares("ore", declared) == {route("AU", NONE): Fraction(3, 5), route(UNKNOWN, NONE): Fraction(2, 5)}
    for _ in range(2):
        with pytest.raises(OriginRuleError):
            receipt_shares("oxide", [({"mining": "AU"}, Fraction(120))])


def test_each_declared_route_applies_to_every_element_in_proportion() -> None:
    origin = receipt_origin(comp(Nd="3", Dy="1"), "oxide", [({"mining": "AU", "refining": "MY"}, Fraction(25))])
    assert origin == {
        "Nd": {route("AU", "MY"): kg("0.75"), route(UNKNOWN, UNKNOWN): kg("2.25")},
        "Dy": {route("AU", "MY"): kg("0.25"), route(UNKNOWN, UNKNOWN): kg("0.75")},
    }


@pytest.mark.parametrize(
    ("material", "declared"),
    [
        pytest.param("oxide", [({"mining": "AU"}, Fraction(70)), ({"mining": "US"}, Fraction(40))], id="sum-over-100"),
        pytest.param("oxide", [({"mining": "AU"}, Fraction("100.000001"))], id="just-over-100"),
        pytest.param("oxide", [({"mining": "AU"}, Fraction(0))], id="zero-percent"),
        pytest.param("oxide", [({"mining": "AU"}, Fraction(-10)), ({"mining": "US"}, Fraction(50))], id="negative"),
        pytest.param("oxide", [({"mining": "AU", "magnet_making": "JP"}, Fraction(100))], id="later-stage-country"),
        pytest.param("oxide", [({"mining": "AU", "metal_making": UNKNOWN}, Fraction(100))], id="later-stage-unknown"),
        pytest.param("magnet", [({"manufacturing": "CN"}, Fraction(100))], id="magnet-manufactured"),
        pytest.param("ore", [({"refining": UNKNOWN}, Fraction(10))], id="ore-refined"),
        pytest.param("oxide", [({"refining": RECYCLED}, Fraction(100))], id="recycled-refining"),
        pytest.param("product", [({"manufacturing": RECYCLED}, Fraction(100))], id="recycled-manufacturing"),
        pytest.param("oxide", [({"smelting": "CN"}, Fraction(100))], id="unknown-stage"),
    ],
)
def test_receipt_shares_refusals(material: str, declared: list[tuple[dict[str, str], Fraction]]) -> None:
    with pytest.raises(OriginRuleError):
        receipt_shares(material, declared)


# Pool, mode and mass balance -----------------------------------------------------------------


def test_pool_mode() -> None:
    resolved = extracted("AU", comp(Nd="1"))
    ree = received("oxide", comp(REE="1"))
    pooled_elements = LotState(comp(Nd="1"), extraction_origin(comp(Nd="1"), "AU"), element_resolved=False)

    assert make_pool([(Fraction(1), resolved)]).element_resolved
    assert not make_pool([(Fraction(1), resolved), (Fraction(1), ree)]).element_resolved
    assert not make_pool([(Fraction(1), resolved), (Fraction(1), pooled_elements)]).element_resolved
    assert not make_pool([(Fraction(1), resolved)], outputs_resolved=False).element_resolved


def test_pool_adds_fractions_of_lots_and_drops_zeros() -> None:
    a = extracted("AU", comp(Nd="10", Pr="0"))
    b = extracted("CN", comp(Nd="4", Dy="2"))
    pool = make_pool([(Fraction(1, 2), a), (Fraction(1, 4), b)])
    assert pool.composition == comp(Nd="6", Dy="0.5")
    assert list(pool.composition) == ["Nd", "Dy"]
    assert pool.origin == {"Nd": {route("AU"): kg("5"), route("CN"): kg("1")}, "Dy": {route("CN"): kg("0.5")}}
    assert pool.routes == {route("AU"): kg("5"), route("CN"): kg("1.5")}


def test_mass_balance_is_per_element_when_element_resolved() -> None:
    lot = extracted("CN", comp(Nd="100", Pr="25"))
    pool = make_pool([(Fraction(1, 2), lot)])  # Nd 50, Pr 12.5
    assert pool.element_resolved

    assert set(mass_balance_excess(pool, [comp(Nd="101", Pr="25")], TOLERANCE)) == {"Nd", "Pr"}
    assert mass_balance_excess(pool, [comp(Nd="50.2", Pr="12.5")], TOLERANCE) == []
    assert mass_balance_excess(pool, [comp(Nd="50.25")], TOLERANCE) == []
    assert mass_balance_excess(pool, [comp(Nd="50.250000000001")], TOLERANCE) == ["Nd"]
    # Outputs are added up before the comparison.
    assert mass_balance_excess(pool, [comp(Nd="30"), comp(Nd="30")], TOLERANCE) == ["Nd"]
    # An element that did not go in cannot come out, however little.
    assert mass_balance_excess(pool, [comp(Nd="5", Dy="0.1")], TOLERANCE) == ["Dy"]
    # Losing mass is always allowed; a total under the pool does not hide one element over it.
    assert mass_balance_excess(pool, [comp(Nd="1")], TOLERANCE) == []
    assert mass_balance_excess(pool, [comp(Nd="51", Pr="1")], TOLERANCE) == ["Nd"]
    assert mass_balance_excess(pool, [comp(Nd="50.000001")], Fraction(0)) == ["Nd"]


def test_mass_balance_is_in_total_when_pooled() -> None:
    ree = received("oxide", comp(REE="80"))
    resolved = received("oxide", comp(Nd="60", Dy="20"))
    pool = make_pool([(Fraction(1), ree), (Fraction(1), resolved)])  # 160 kg in all
    assert not pool.element_resolved

    # REE input may hide any element: only the total counts.
    assert mass_balance_excess(pool, [comp(Nd="110", Dy="45")], TOLERANCE) == []
    assert mass_balance_excess(pool, [comp(Tb="100"), comp(Nd="60.8")], TOLERANCE) == []
    assert mass_balance_excess(pool, [comp(Tb="100"), comp(Nd="60.800000000001")], TOLERANCE) == ["total"]
    assert mass_balance_excess(pool, [comp(REE="160")], Fraction(0)) == []
    assert mass_balance_excess(pool, [comp(REE="160.000001")], Fraction(0)) == ["total"]


def test_derive_compositions_splits_in_proportion_and_keeps_the_pools_keys() -> None:
    lot = received("oxide", comp(Nd="1", REE="2"))
    pool = make_pool([(Fraction(1), lot)])
    thirds = derive_compositions(pool, [Decimal("1"), Decimal("1"), Decimal("1")])
    assert thirds == [{"Nd": Fraction(1, 3), "REE": Fraction(2, 3)}] * 3

    parts = derive_compositions(pool, [Decimal("0.5"), Decimal("1.5")])
    assert parts == [{"Nd": Fraction(1, 4), "REE": Fraction(1, 2)}, {"Nd": Fraction(3, 4), "REE": Fraction(3, 2)}]


# Distribution and attribution ----------------------------------------------------------------


def test_distribute_scales_an_elements_routes_to_the_output() -> None:
    chinese = extracted("CN", comp(Nd="1", Pr="3"))
    australian = extracted("AU", comp(Nd="3", Pr="1"))
    pool = make_pool([(Fraction(1), chinese), (Fraction(1), australian)])
    assert distribute(pool, comp(Nd="2", Pr="0")) == {"Nd": {route("CN"): kg("0.5"), route("AU"): kg("1.5")}}


def test_distribute_pooled_gives_every_element_the_whole_pools_routes() -> None:
    chinese = extracted("CN", comp(Nd="1", Pr="3"))
    unresolved = received("oxide", comp(REE="4"), [({"mining": "AU", "refining": "MY"}, Fraction(100))])
    pool = make_pool([(Fraction(1), chinese), (Fraction(1), unresolved)])
    assert distribute(pool, comp(Pr="2", Tb="1")) == {
        "Pr": {route("CN"): kg("1"), route("AU", "MY"): kg("1")},
        "Tb": {route("CN"): kg("0.5"), route("AU", "MY"): kg("0.5")},
    }


@pytest.mark.parametrize(
    ("before", "stage", "after"),
    [
        pytest.param(route("AU"), "refining", route("AU", "FR"), id="refining"),
        pytest.param(route(NONE), "refining", route(NONE, "FR"), id="mining-never-filled"),
        pytest.param(route("AU", NONE), "metal_making", route("AU", "FR", "FR"), id="metal-fills-refining"),
        pytest.param(route("AU", UNKNOWN), "metal_making", route("AU", UNKNOWN, "FR"), id="metal-keeps-unknown"),
        pytest.param(route("AU", "MY"), "metal_making", route("AU", "MY", "FR"), id="metal-keeps-refiner"),
        pytest.param(route("AU"), "magnet_making", route("AU", "FR", "FR", "FR"), id="magnet-fills-both"),
        pytest.param(
            route("AU", "MY", UNKNOWN), "magnet_making", route("AU", "MY", UNKNOWN, "FR"), id="magnet-keeps-unknown"
        ),
        pytest.param(
            route(UNKNOWN, UNKNOWN, NONE), "magnet_making", route(UNKNOWN, UNKNOWN, "FR", "FR"), id="magnet-partial"
        ),
        pytest.param(route("CN", "CN", "CN", "CN", "VN"), "refining", route("CN", "FR"), id="later-stages-become-none"),
        pytest.param(
            route(RECYCLED, UNKNOWN, UNKNOWN, UNKNOWN), "refining", route(RECYCLED, "FR"), id="recycled-re-refined"
        ),
        pytest.param(route("AU", "MY"), "manufacturing", route("AU", "MY", NONE, NONE, "FR"), id="manufacturing"),
        pytest.param(
            route("CN", "CN", "CN", "CN", "VN"),
            "manufacturing",
            route("CN", "CN", "CN", "CN", "FR"),
            id="remanufactured",
        ),
        pytest.param(route("MM"), "mining", route("MM"), id="concentrator-keeps-mining"),
        pytest.param(route(UNKNOWN, "CN"), "mining", route(UNKNOWN), id="concentrator-resets-later"),
    ],
)
def test_attribute_route(before: Route, stage: str, after: Route) -> None:
    assert attribute_route(before, stage, "FR") == after


def test_attribution_merges_routes_that_become_equal() -> None:
    origin: Origin = {
        "Nd": {route("AU", "MY"): kg("1"), route("AU", "CN"): kg("2"), route("CN"): kg("4")},
        "Pr": {route("AU", UNKNOWN): kg("0.5")},
    }
    assert attribute(origin, "refining", "EE") == {
        "Nd": {route("AU", "EE"): kg("3"), route("CN", "EE"): kg("4")},
        "Pr": {route("AU", "EE"): kg("0.5")},
    }


def test_without_a_stage_routes_are_kept() -> None:
    origin: Origin = {"Nd": {route("AU", "MY"): kg("1"), route(UNKNOWN, UNKNOWN): kg("2")}}
    assert attribute(origin, None, "EE") == origin


def test_extraction_is_all_on_the_mines_country_and_drops_zeros() -> None:
    assert extraction_origin(comp(Nd="2", Pr="0", REE="1"), "AU") == {
        "Nd": {route("AU"): kg("2")},
        "REE": {route("AU"): kg("1")},
    }


def test_clean_composition_orders_as_the_periodic_table_and_drops_zeros() -> None:
    cleaned = clean_composition(comp(REE="1", Y="2", Nd="3", La="0", Ce="4"))
    assert list(cleaned.items()) == [("Ce", kg("4")), ("Nd", kg("3")), ("Y", kg("2")), ("REE", kg("1"))]


# Questions -----------------------------------------------------------------------------------


def test_hit_takes_precedence_over_unknown() -> None:
    routes = {
        route("CN", UNKNOWN): kg("1"),
        route(UNKNOWN, "CN"): kg("2"),
        route(UNKNOWN, "MY"): kg("3"),
        route("AU", UNKNOWN): kg("4"),
        route("AU", "MY"): kg("10"),
    }
    assert exposure(routes, ["CN"], ASKED) == Exposure(kg("3"), kg("7"), kg("20"))
    assert exposure(routes, ["CN"], ["mining"]) == Exposure(kg("1"), kg("5"), kg("20"))
    assert exposure(routes, ["CN", "MY"], ["refining"]) == Exposure(kg("15"), kg("5"), kg("20"))


def test_manufacturing_counts_only_when_asked() -> None:
    routes = {route("AU", "MY", "JP", "JP", "CN"): kg("1"), route("AU", "MY", "JP", "JP", UNKNOWN): kg("1")}
    assert exposure(routes, ["CN"], ASKED) == Exposure(Fraction(0), Fraction(0), kg("2"))
    assert exposure(routes, ["CN"], EVERY_STAGE) == Exposure(kg("1"), kg("1"), kg("2"))


def test_answer_threshold_edges() -> None:
    quarter = Exposure(hit=kg("1"), unknown=Fraction(0), total=kg("4"))
    assert quarter.answer(Fraction(0)) == "yes"
    assert quarter.answer(Fraction("24.999999")) == "yes"
    assert quarter.answer(Fraction(25)) == "no"  # share equal to the threshold is not above it

    mixed = Exposure(hit=kg("1"), unknown=kg("1"), total=kg("4"))
    assert mixed.answer(Fraction(25)) == "unknown"
    assert mixed.answer(Fraction("49.999999")) == "unknown"
    assert mixed.answer(Fraction(50)) == "no"  # share + unknown equal to the threshold cannot cross it

    all_unknown = Exposure(hit=Fraction(0), unknown=kg("3"), total=kg("3"))
    assert all_unknown.answer(Fraction(0)) == "unknown"
    assert all_unknown.answer(Fraction(100)) == "no"

    clean = Exposure(hit=Fraction(0), unknown=Fraction(0), total=kg("3"))
    assert clean.answer(Fraction(0)) == "no"


def test_a_lot_without_rare_earth_answers_no() -> None:
    assert NO_EXPOSURE.share_percent == 0
    assert NO_EXPOSURE.unknown_percent == 0
    assert NO_EXPOSURE.answer(Fraction(0)) == "no"
    assert exposure({}, ["CN"], ASKED) == NO_EXPOSURE


def test_percents_are_exact() -> None:
    third = Exposure(hit=kg("1"), unknown=kg("1"), total=kg("3"))
    assert third.share_percent == Fraction(100, 3)
    assert third.unknown_percent == Fraction(100, 3)
    assert format_percent(third.share_percent) == "33.333333"


def test_sorted_routes_largest_first_then_stage_order_alphabetically() -> None:
    routes = {
        route("AU", "MY"): kg("2"),
        route("CN", "AA"): kg("5"),
        route("AU", "ZZ"): kg("5"),
        route("AU", "CN"): kg("5"),
        route("US", "US"): kg("7"),
        route("JP"): Fraction(0),
    }
    assert sorted_routes(routes) == [
        (route("US", "US"), kg("7")),
        (route("AU", "CN"), kg("5")),
        (route("AU", "ZZ"), kg("5")),
        (route("CN", "AA"), kg("5")),
        (route("AU", "MY"), kg("2")),
    ]


def test_stage_marginals() -> None:
    routes = {
        route("US", "US", "US", "US", "US"): kg("6.975"),
        route("CN", "CN", "CN", "CN", "US"): kg("2.325"),
    }
    marginals = stage_marginals(routes)
    assert list(marginals) == list(EVERY_STAGE)
    for stage in ASKED:
        assert marginals[stage] == {"CN": kg("2.325"), "US": kg("6.975")}
    assert marginals["manufacturing"] == {"US": kg("9.3")}

    mixed = stage_marginals({route("AU", "MY"): kg("1"), route(UNKNOWN, "MY"): kg("2"), route(RECYCLED): kg("3")})
    assert mixed["mining"] == {"AU": kg("1"), RECYCLED: kg("3"), UNKNOWN: kg("2")}
    assert mixed["refining"] == {"MY": kg("3"), NONE: kg("3")}
    assert mixed["manufacturing"] == {NONE: kg("6")}


def test_stage_marginals_of_nothing_are_empty() -> None:
    assert stage_marginals({}) == {stage: {} for stage in EVERY_STAGE}


# Numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", Decimal("12.5")),
        ("0.000000000001", Decimal("0.000000000001")),
        ("-3", Decimal("-3")),
        ("9" * MAX_INTEGER_DIGITS, Decimal("9" * MAX_INTEGER_DIGITS)),
        ("0" * 20 + "1", Decimal(1)),
        (7, Decimal(7)),
        (Decimal("1.25"), Decimal("1.25")),
    ],
)
def test_parse_decimal_accepts_plain_decimals(value: object, expected: Decimal) -> None:
    parsed = parse_decimal(value)
    assert parsed == expected
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(1.5, id="float"),
        pytest.param(1.0, id="whole-float"),
        pytest.param(None, id="null"),
        pytest.param("1e3", id="exponent"),
        pytest.param("1E-3", id="upper-exponent"),
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("0x10", id="hex"),
        pytest.param("", id="empty"),
        pytest.param("1.", id="trailing-point"),
        pytest.param(".5", id="leading-point"),
        pytest.param("+5", id="plus"),
        pytest.param(" 12.5 ", id="surrounding-spaces"),
        pytest.param("5\n", id="final-newline"),
        pytest.param("1_000", id="underscore"),
        pytest.param("1,5", id="comma"),
        pytest.param("0.0000000000001", id="13-places"),
        pytest.param("1" + "0" * MAX_INTEGER_DIGITS, id="too-many-integer-digits"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
        pytest.param(Decimal("Infinity"), id="decimal-infinity"),
    ],
)
def test_parse_decimal_refusals(value: object) -> None:
    with pytest.raises(ValueError):
        parse_decimal(value)


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Fraction("0.0000005"), 6, Decimal("0")),
        (Fraction("0.0000015"), 6, Decimal("0.000002")),
        (Fraction("0.0000025"), 6, Decimal("0.000002")),
        (Fraction("0.0000035"), 6, Decimal("0.000004")),
        (Fraction("-0.0000025"), 6, Decimal("-0.000002")),
        (Fraction(1, 3), 6, Decimal("0.333333")),
        (Fraction(2, 3), 12, Decimal("0.666666666667")),
        (Decimal("2.5"), 0, Decimal("2")),
        (Decimal("3.5"), 0, Decimal("4")),
    ],
)
def test_written_numbers_are_rounded_half_even_and_exactly(
    value: Fraction | Decimal, places: int, expected: Decimal
) -> None:
    assert Decimal(_format_ratio(*value.as_integer_ratio(), places)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction("0.0000005"), "0"),
        (Fraction("0.0000015"), "0.000002"),
        (Fraction("0.0000025"), "0.000002"),
        (Fraction("-0.0000001"), "0"),
        (Fraction(100), "100"),
        (Fraction(100, 3), "33.333333"),
        (Fraction("12.5"), "12.5"),
        (Fraction("1e-6"), "0.000001"),
        (Fraction(10**20), "100000000000000000000"),
    ],
)
def test_format_percent(value: Fraction, expected: str) -> None:
    assert format_percent(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction("0.0000000000005"), "0"),
        (Fraction("0.0000000000015"), "0.000000000002"),
        (Fraction("0.000000000001"), "0.000000000001"),
        (Fraction(1, 3), "0.333333333333"),
        (Fraction("850000.000001"), "850000.000001"),
        (Fraction("1155"), "1155"),
        (Fraction(10**15), "1000000000000000"),
        (Decimal("1E+3"), "1000"),
        (Decimal("2.500"), "2.5"),
    ],
)
def test_format_kg(value: Fraction | Decimal, expected: str) -> None:
    text = format_kg(value)
    assert text == expected
    assert "e" not in text.lower()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * MAX_INTEGER_DIGITS + ".999999999999", "9" * MAX_INTEGER_DIGITS + ".999999999999"),
        ("9" * MAX_INTEGER_DIGITS + ".9999999999995", "1" + "0" * MAX_INTEGER_DIGITS),
        ("123456789012345678.123456789012", "123456789012345678.123456789012"),
    ],
)
def test_format_kg_keeps_twelve_decimals_at_the_largest_quantities(value: str, expected: str) -> None:
    assert format_kg(Fraction(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1E+3"), "1000"),
        (Decimal("1E-12"), "0.000000000001"),
        (Decimal("0.500"), "0.5"),
        (Decimal("-0"), "0"),
        (Decimal("0E-12"), "0"),
    ],
)
def test_format_decimal_never_uses_exponent_form(value: Decimal, expected: str) -> None:
    assert format_decimal(value) == expected
