import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import origin as engine
from service.answer_memo import AnswerMemo
from service.assessments import ProductionLot, _assess_lots
from service.lots import route_shares, stage_percents
from service.numbers import format_kg, format_percent
from service.questions import (
    ANSWER_RANK,
    DEFAULT_STAGES,
    NO_EXPOSURE,
    Exposure,
    Kind,
    Question,
    exposure,
    weigh,
)
from service.schemas import AssessmentRead


def answer(share: str) -> AssessmentRead:
    return AssessmentRead.model_validate(
        {"subject": {"kind": "sku", "sku": "S"}, "countries": ["CN"], "stages": ["mining"], "threshold_percent": "0",
         "answer": "no", "share_percent": share, "unknown_percent": "0", "total_kg": "1", "stages_breakdown": {},
         "routes": [], "elements": None, "elements_breakdown": {}, "explanation": "-",
         "as_of": "2026-12-01T00:00:00Z"}
    )  # fmt: skip


def test_the_memo_forgets_the_least_recently_asked_first() -> None:
    memo = AnswerMemo[AssessmentRead](capacity=2)
    memo.put("a", answer("1"))
    memo.put("b", answer("2"))
    assert memo.get("a") == answer("1")
    memo.put("c", answer("3"))
    assert memo.get("b") is None
    assert (memo.get("a"), memo.get("c")) == (answer("1"), answer("3"))


COUNTRIES = ["CN", "AU", "unknown", "none"]
route_strategy = st.tuples(*[st.sampled_from(COUNTRIES)] * 5)
kg_strategy = st.fractions(min_value=Fraction(1, 10**4), max_value=Fraction(10**6), max_denominator=10**4)
origin_strategy = st.dictionaries(
    st.sampled_from(["Nd", "Pr", "Dy", "REE"]),
    st.dictionaries(route_strategy, kg_strategy, min_size=1, max_size=4),
    min_size=1,
    max_size=3,
)


questions = st.builds(
    Question,
    countries=st.lists(st.sampled_from(["CN", "AU", "US"]), min_size=1, max_size=2, unique=True).map(tuple),
    stages=st.lists(st.sampled_from(list(DEFAULT_STAGES)), min_size=1, max_size=4, unique=True).map(tuple),
    threshold_percent=st.sampled_from(["0", "10", "25", "50", "99.9"]).map(Decimal),
    elements=st.none() | st.lists(st.sampled_from(["Nd", "Pr", "Dy"]), min_size=1, max_size=3, unique=True).map(tuple),
)


def exact_kind(question: Question, element: str, route: engine.Route) -> Kind:
    """RULES.md's classification written out plainly, with nothing remembered."""
    values = [route[engine.STAGES.index(stage)] for stage in question.stages]
    plain: Kind = "hit" if set(values) & set(question.countries) else "unknown" if engine.UNKNOWN in values else "other"
    if question.elements is None or element in question.elements:
        return plain
    return "unknown" if element == engine.REE and plain != "other" else "other"


def exact_exposure(origin: engine.Origin, question: Question, *, plain: bool = False) -> Exposure:
    found = {"hit": Fraction(0), "unknown": Fraction(0), "other": Fraction(0)}
    for element, routes in origin.items():
        for route, kg in routes.items():
            asked = Question(question.countries, question.stages) if plain else question
            found[exact_kind(asked, element, route)] += kg
    return Exposure(found["hit"], found["unknown"], sum(found.values(), Fraction(0)))


@given(origins=st.lists(origin_strategy, max_size=6), question=questions)
def test_weighing_stored_origins_is_the_exact_arithmetic(origins: list[engine.Origin], question: Question) -> None:
    stored = [engine.encode_origin(origin) for origin in origins]
    got = weigh(stored, question)

    decoded = [engine.decode_origin(origin) for origin in stored]
    assert got.lots == [exact_exposure(origin, question) for origin in decoded]
    assert got.lots == [exposure(origin, question) for origin in decoded]
    assert got.exposure == sum(got.lots, NO_EXPOSURE)
    everything: dict[engine.Route, Fraction] = {}
    for origin in decoded:
        for route, kg in engine.route_totals(origin).items():
            everything[route] = everything.get(route, Fraction(0)) + kg
    assert got.routes == everything
    symbols = sorted({e for origin in decoded for e in origin}, key=engine.symbol_order)
    assert list(got.elements) == symbols
    for symbol in symbols:
        alone = [{symbol: origin[symbol]} for origin in decoded if symbol in origin]
        expected = sum((exact_exposure(o, question, plain=True) for o in alone), NO_EXPOSURE)
        assert got.elements[symbol] == expected


@given(origins=st.lists(origin_strategy, max_size=6), question=questions)
def test_sku_answers_are_the_weighed_lots_worst_first(origins: list[engine.Origin], question: Question) -> None:
    stored = [engine.encode_origin(origin) for origin in origins]
    lots = [ProductionLot(f"id-{i}", f"L{i}", "ORG", s) for i, s in enumerate(stored)]
    got = _assess_lots("S", question, lots, 100, None, windowed=False)

    decoded = [engine.decode_origin(origin) for origin in stored]
    exposures = [exact_exposure(origin, question) for origin in decoded]
    answers = [(e.answer(question.threshold), format_percent(e.share_percent)) for e in exposures]
    assert [(a.answer, a.share_percent) for a in got.lots or []] == sorted(answers, key=lambda a: -ANSWER_RANK[a[0]])
    whole = sum(exposures, NO_EXPOSURE)
    assert (got.share_percent, got.unknown_percent, got.total_kg) == (
        format_percent(whole.share_percent),
        format_percent(whole.unknown_percent),
        format_kg(whole.total),
    )
    routes: dict[engine.Route, Fraction] = {}
    for origin in decoded:
        for route, kg in engine.route_totals(origin).items():
            routes[route] = routes.get(route, Fraction(0)) + kg
    assert got.routes == route_shares(routes)
    assert got.stages_breakdown == stage_percents(routes)
    expected_answer = max((a for a, _ in answers), key=ANSWER_RANK.__getitem__, default="unknown")
    assert got.answer == expected_answer


def test_a_burst_of_the_same_new_question_is_computed_once() -> None:
    memo = AnswerMemo[AssessmentRead]()
    calls: list[int] = []
    everyone = threading.Barrier(8)

    def compute() -> AssessmentRead:
        calls.append(1)
        time.sleep(0.05)  # widens the window in which the other threads ask
        return answer("1")

    def ask(_: int) -> AssessmentRead:
        everyone.wait()
        return memo.get_or_compute("k", compute)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == [answer("1")] * 8
    assert len(calls) == 1


def test_a_failed_computation_is_not_remembered() -> None:
    memo = AnswerMemo[AssessmentRead]()

    def fail() -> AssessmentRead:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        memo.get_or_compute("k", fail)
    assert memo.get_or_compute("k", lambda: answer("2")) == answer("2")
