import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import origin as engine
from service.assessments import (
    DEFAULT_STAGES,
    AnswerMemo,
    ProductionLot,
    Question,
    _assess_lots,
)
from service.lots import decode_origin, encode_origin, route_shares, stage_percents, stored_route_parts
from service.numbers import format_kg, format_percent
from service.schemas import AssessmentRead


def answer(share: str) -> AssessmentRead:
    return AssessmentRead.model_validate(
        {"subject": {"kind": "sku", "sku": "S"}, "countries": ["CN"], "stages": ["mining"], "threshold_percent": "0",
         "answer": "no", "share_percent": share, "unknown_percent": "0", "total_kg": "1", "stages_breakdown": {},
         "routes": [], "explanation": "-"}
    )  # fmt: skip


def test_the_memo_forgets_the_least_recently_asked_first() -> None:
    memo = AnswerMemo(capacity=2)
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


@given(
    origins=st.lists(origin_strategy, max_size=6),
    countries=st.lists(st.sampled_from(["CN", "AU", "US"]), min_size=1, max_size=2, unique=True),
    stages=st.lists(st.sampled_from(list(DEFAULT_STAGES)), min_size=1, max_size=4, unique=True),
    threshold=st.sampled_from(["0", "10", "25", "50", "99.9"]),
)
def test_sku_answers_add_up_exactly_as_the_engine_does(
    origins: list[engine.Origin], countries: list[str], stages: list[str], threshold: str
) -> None:
    question = Question(tuple(countries), tuple(stages), Decimal(threshold))
    stored = [encode_origin(origin) for origin in origins]
    lots = [ProductionLot(f"id-{i}", f"L{i}", "ORG", stored_route_parts(s)) for i, s in enumerate(stored)]
    got = _assess_lots("S", question, lots, 100, windowed=False)

    routes: dict[engine.Route, Fraction] = {}
    exposure = engine.NO_EXPOSURE
    answers = []
    for origin in stored:
        lot_routes = engine.route_totals(decode_origin(origin))
        for route, kg in lot_routes.items():
            routes[route] = routes.get(route, Fraction(0)) + kg
        lot_exposure = engine.exposure(lot_routes, countries, stages)
        exposure = exposure + lot_exposure
        answers.append((lot_exposure.answer(question.threshold), format_percent(lot_exposure.share_percent)))
    assert [(a.answer, a.share_percent) for a in got.lots or []] == sorted(
        answers, key=lambda a: -engine.ANSWER_RANK[a[0]]
    )
    assert (got.share_percent, got.unknown_percent, got.total_kg) == (
        format_percent(exposure.share_percent),
        format_percent(exposure.unknown_percent),
        format_kg(exposure.total),
    )
    assert got.routes == route_shares(routes)
    assert got.stages_breakdown == stage_percents(routes)


def test_a_burst_of_the_same_new_question_is_computed_once() -> None:
    memo = AnswerMemo()
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
    memo = AnswerMemo()

    def fail() -> AssessmentRead:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        memo.get_or_compute("k", fail)
    assert memo.get_or_compute("k", lambda: answer("2")) == answer("2")
