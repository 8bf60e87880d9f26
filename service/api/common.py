"""What every router shares: the route class and error responses in the docs."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service.api.deps import require_principal
from service.api.problems import PROBLEM_JSON, ExactJSONRoute
from service.schemas import Problem, UtcTimestamp

_DESCRIPTIONS = {
    400: "The body is not readable JSON.",
    401: "No API key, or one this service does not accept.",
    403: "This key's role or organization does not allow it.",
    404: "No such resource.",
    409: "Conflicts with what is recorded.",
    413: "The body is larger than 1 MiB.",
    415: "Not a media type this route reads (EPCIS capture: application/json or application/ld+json).",
    422: "Well-formed but invalid; `errors` names the fields. Nothing was recorded.",
    503: "Cannot be done now: the detail says what the operator must do.",
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


def operation_id(route: APIRoute) -> str:
    """The handler's name (``assess_sku``): what generated clients call the operation, stable across path changes."""
    return route.name


def v1_router(tag: str) -> APIRouter:
    """A ``/v1`` router: decimals parsed exactly, every route behind an API key."""
    return APIRouter(prefix="/v1", tags=[tag], route_class=ExactJSONRoute, dependencies=[Depends(require_principal)])


AsOf = Annotated[
    UtcTimestamp | None,
    Query(
        description="Answer as the service would have at this moment (RFC 3339): only lots, prices and rules "
        "recorded by then count, and an event voided later still counts. Default now; not in the future.",
        examples=["2026-03-31T23:59:59Z"],
    ),
]


def sent(model: BaseModel) -> Response:
    """The answer as JSON, serialized once by its own schema.

    A route returning the model would have FastAPI validate it again against the response model first:
    for a page of lots with their origins that was most of the request (BENCHMARKS.md, "/v1/lots?limit=50").
    The route declares ``response_model`` for the docs.
    """
    return Response(model.model_dump_json().encode(), media_type="application/json")
