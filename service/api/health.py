"""Liveness and readiness, for load balancers and orchestrators (no API key needed)."""

from fastapi import APIRouter, Request
from sqlalchemy import text

from service.api.problems import PROBLEM_JSON
from service.errors import LodestoneError
from service.schemas import Health, Problem

router = APIRouter(tags=["health"])


class NotReady(LodestoneError):
    status = 503
    title = "Not ready"
    slug = "not-ready"


@router.get("/healthz", summary="Liveness")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        503: {"model": Problem, "description": "The database cannot be reached.", "content": {PROBLEM_JSON: {}}}
    },
)
def readyz(request: Request) -> Health:
    """The database answers; safe to send traffic."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means not ready
        raise NotReady("The database cannot be reached.") from exc
    return Health(status="ok")
