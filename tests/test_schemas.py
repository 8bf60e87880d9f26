"""The contract's closed vocabularies are the engine's: written as Literals for the docs, checked here."""

from typing import get_args

from service.origin import MATERIALS, STAGES
from service.questions import ANSWER_RANK
from service.schemas import AnswerValue, Material, Stage


def test_stages_materials_and_answers_are_the_engines() -> None:
    assert get_args(Stage) == STAGES
    assert get_args(Material) == MATERIALS
    assert set(get_args(AnswerValue)) == set(ANSWER_RANK)
