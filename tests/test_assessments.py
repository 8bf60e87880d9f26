from service.assessments import AnswerMemo
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
