"""The rules' engine (RULES.md): properties the worked examples cannot pin down alone."""

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from service import origin as engine
from service.compliance import LotFacts, RuleTest, judge, verdict
from service.questions import DEFAULT_STAGES, Question, exposure
from service.rules import BUILTIN_RULES, Rule, RuleVersion
from tests.test_assessments import origin_strategy

COUNTRIES = st.lists(st.sampled_from(["CN", "AU", "US"]), min_size=1, max_size=2, unique=True).map(tuple)
STAGES = st.lists(st.sampled_from(list(engine.STAGES)), min_size=1, max_size=5, unique=True).map(tuple)
THRESHOLDS = st.sampled_from(["0", "0.1", "10", "25", "50", "99.9"]).map(Decimal)
PRICED = ("Nd", "Pr", "Dy")


def lot(origin: engine.Origin, value: tuple[Fraction, str] | None = None) -> LotFacts:
    return LotFacts("id", "L", "ORG", "magnet", engine.encode_origin(origin), value)


def mass_test(countries: tuple[str, ...], stages: tuple[str, ...], threshold: Decimal, **more: object) -> RuleTest:
    fields: dict[str, object] = {"elements": None, "basis": "mass", "threshold_inclusive": False, "exemptions": ()}
    return RuleTest(countries=countries, stages=stages, threshold_percent=threshold, **(fields | more))  # type: ignore[arg-type]


@given(origin=origin_strategy, countries=COUNTRIES, stages=STAGES, threshold=THRESHOLDS)
def test_a_plain_mass_rule_answers_as_the_plain_question(
    origin: engine.Origin, countries: tuple[str, ...], stages: tuple[str, ...], threshold: Decimal
) -> None:
    judged = judge(mass_test(countries, stages, threshold), lot(origin), {}, "2027-01-01")
    question = Question(countries, stages, threshold)
    plain = exposure(engine.decode_origin(engine.encode_origin(origin)), question)
    assert judged.answer == plain.answer(question.threshold)
    assert (judged.share_percent, judged.unknown_percent) == (plain.share_percent, plain.unknown_percent)


@given(origin=origin_strategy, countries=COUNTRIES, stages=STAGES, threshold=THRESHOLDS)
def test_an_exemption_matching_every_route_answers_no(
    origin: engine.Origin, countries: tuple[str, ...], stages: tuple[str, ...], threshold: Decimal
) -> None:
    every_route = tuple(((stage, value),) for stage in engine.STAGES for value in ("CN", "AU", "unknown", "none"))
    test = mass_test(countries, stages, threshold, exemptions=every_route)
    judged = judge(test, lot(origin), {}, "2027-01-01")
    assert (judged.answer, judged.share_percent, judged.unknown_percent) == ("no", Fraction(0), Fraction(0))


prices = st.fixed_dictionaries({(e, "USD"): st.fractions(min_value=Fraction(1, 100), max_value=1000) for e in PRICED})


@given(
    origins=st.lists(origin_strategy, min_size=1, max_size=4),
    amounts=st.lists(st.fractions(min_value=Fraction(1, 10), max_value=10**6), min_size=4, max_size=4),
    priced=prices,
    factor=st.fractions(min_value=Fraction(1, 1000), max_value=1000),
    stages=STAGES,
    threshold=THRESHOLDS,
    elements=st.lists(st.sampled_from(PRICED), min_size=1, max_size=3, unique=True).map(tuple),
)
def test_scaling_every_price_and_value_leaves_value_answers_unchanged(
    origins: list[engine.Origin],
    amounts: list[Fraction],
    priced: dict[tuple[str, str], Fraction],
    factor: Fraction,
    stages: tuple[str, ...],
    threshold: Decimal,
    elements: tuple[str, ...],
) -> None:
    test = mass_test(("CN",), stages, threshold, basis="value", elements=elements)
    scaled_prices = {key: price * factor for key, price in priced.items()}

    def decide(scale: Fraction, table: dict[tuple[str, str], Fraction]) -> tuple[object, ...]:
        judged = [
            judge(test, lot(o, (a * scale, "USD")), table, "2027-01-01") for o, a in zip(origins, amounts, strict=False)
        ]
        decided = verdict(test, [j.answer for j in judged], judged, [])
        return decided.answer, decided.share_percent, decided.unknown_percent, [j.answer for j in judged]

    assert decide(Fraction(1), priced) == decide(factor, scaled_prices)


def test_a_value_rule_without_a_value_or_price_says_why() -> None:
    chinese: engine.Origin = {
        "Dy": {("CN", "CN", "none", "none", "none"): Fraction(1)},
        "REE": {("CN", "CN", "none", "none", "none"): Fraction(1)},
    }
    test = mass_test(
        ("CN",), DEFAULT_STAGES, Decimal("0.1"), basis="value", elements=("Dy", "Tb"), threshold_inclusive=True
    )
    unvalued = judge(test, lot(chinese), {}, "2027-01-01")
    assert (unvalued.answer, unvalued.share_percent, [r.code for r in unvalued.reasons]) == (
        "unknown",
        None,
        ["missing_value"],
    )
    unpriced = judge(test, lot(chinese, (Fraction(100), "USD")), {("Dy", "USD"): Fraction(500)}, "2027-01-01")
    assert [(r.code, r.element) for r in unpriced.reasons] == [("missing_price", "Tb")]
    priced = judge(
        test,
        lot(chinese, (Fraction(10_000), "USD")),
        {("Dy", "USD"): Fraction(500), ("Tb", "USD"): Fraction(900)},
        "2027-01-01",
    )
    # Dy hits: 1 kg x 500; REE could be Tb, the dearer: unknown 1 kg x 900.
    assert (priced.answer, priced.share_percent, priced.unknown_percent) == ("yes", Fraction(5), Fraction(9))


MASS_VERSIONS = [(rule, version) for rule in BUILTIN_RULES for version in rule.versions if version.basis == "mass"]


@given(
    origin=origin_strategy,
    chosen=st.sampled_from(MASS_VERSIONS),
    offset=st.integers(min_value=0, max_value=3650),
)
def test_a_mass_answer_is_the_same_on_any_day_of_a_version(
    origin: engine.Origin, chosen: tuple[Rule, RuleVersion], offset: int
) -> None:
    rule, version = chosen
    last = (version.effective_to - version.effective_from).days - 1 if version.effective_to else 3650
    day = version.effective_from + timedelta(days=min(offset, last))
    assert rule.version_on(day) == rule.version_on(version.effective_from) == version
    test = version
    on_day = judge(test, lot(origin), {}, day.isoformat())
    on_first = judge(test, lot(origin), {}, version.effective_from.isoformat())
    assert (on_day.answer, on_day.share_percent, on_day.unknown_percent) == (
        on_first.answer,
        on_first.share_percent,
        on_first.unknown_percent,
    )
