"""What every router shares: the route class, error responses in the docs, query parsing."""

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends

from service.api.deps import require_principal
from service.api.problems import PROBLEM_JSON, ExactJSONRoute
from service.assessments import DEFAULT_COUNTRIES, DEFAULT_STAGES, Question
from service.errors import invalid
from service.numbers import parse_decimal
from service.origin import STAGES
from service.schemas import Problem, check_country

_DESCRIPTIONS = {
    400: "The body is not readable JSON.",
    401: "No API key, or one this service does not accept.",
    403: "This key's role or organization does not allow it.",
    404: "No such resource.",
    409: "Conflicts with what is recorded.",
    413: "The body is larger than 1 MiB.",
    422: "Well-formed but invalid; `errors` names the fields. Nothing was recorded.",
}


def problems(*statuses: int, conflict: str | None = None) -> dict[int | str, dict[str, Any]]:
    """Problem responses for the docs; every ``/v1`` route can answer 401 and 403."""
    descriptions = _DESCRIPTIONS | ({409: conflict} if conflict else {})
    return {
        status: {"model": Problem, "description": descriptions[status], "content": {PROBLEM_JSON: {}}}
        for status in (401, 403, *statuses)
    }


def write_problems(conflict: str) -> dict[int | str, dict[str, Any]]:
    """What any POST can be refused with."""
    return problems(400, 409, 413, 422, conflict=conflict)


def v1_router(tag: str) -> APIRouter:
    """A ``/v1`` router: decimals parsed exactly, every route behind an API key."""
    return APIRouter(prefix="/v1", tags=[tag], route_class=ExactJSONRoute, dependencies=[Depends(require_principal)])


def parse_question(countries: str | None, stages: str | None, threshold_percent: str | None) -> Question:
    """The assessment query: comma-separated countries and stages, and a threshold from 0 to 100."""
    country_list = tuple(c.strip() for c in countries.split(",")) if countries is not None else DEFAULT_COUNTRIES
    for country in country_list:
        try:
            check_country(country)
        except ValueError as exc:
            raise invalid("countries", f"{country!r} {exc}") from None
    stage_list = tuple(s.strip() for s in stages.split(",")) if stages is not None else DEFAULT_STAGES
    for stage in stage_list:
        if stage not in STAGES:
            raise invalid("stages", f"{stage!r} is not one of {', '.join(STAGES)}")
    threshold = Decimal(0)
    if threshold_percent is not None:
        try:
            threshold = parse_decimal(threshold_percent)
        except ValueError as exc:
            raise invalid("threshold_percent", str(exc)) from None
        if not 0 <= threshold <= 100:
            raise invalid("threshold_percent", "must be between 0 and 100")
    return Question(
        countries=tuple(dict.fromkeys(country_list)),
        stages=tuple(sorted(set(stage_list), key=STAGES.index)),
        threshold_percent=threshold,
    )
