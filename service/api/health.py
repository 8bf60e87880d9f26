"""Liveness and readiness, for load balancers and orchestrators (no API key needed)."""

from fastapi import APIRouter, Request
from sqlalchemy import text

from service.api.common import problems
from service.errors import LodestoneError
from service.schemas import Health

router = APIRouter(tags=["health"])


class NotReady(LodestoneError):
    status = 503
    title = "Not ready"
    slug = "not-ready"


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: problems(422)[422] | {"description": "The database cannot be reached."}})
def readyz(request: Request) -> Health:
    """The database answers; safe to send traffic."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means not ready
        raise NotReady("The database cannot be reached.") from exc
    return Health(status="ok")
