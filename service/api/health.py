"""Liveness and readiness, for load balancers and orchestrators (no API key needed)."""

from anyio import to_thread
from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from service.api.problems import PROBLEM_JSON
from service.errors import Unavailable
from service.migrations import database_revision
from service.schemas import Health, Problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        503: {
            "model": Problem,
            "description": "The database cannot be reached, or is not migrated to this version's schema.",
            "content": {PROBLEM_JSON: {}},
        }
    },
)
async def readyz(request: Request) -> Health:
    """The database answers and its schema is this version's: safe to send traffic."""

    def read_revision() -> str | None:
        with request.app.state.engine.connect() as connection:
            return database_revision(connection)

    try:
        revision = await to_thread.run_sync(read_revision, limiter=request.app.state.side_connections)
    except SQLAlchemyError as exc:
        raise Unavailable("The database cannot be reached.") from exc
    head = request.app.state.migration_head
    if revision != head:
        raise Unavailable(f"The database is at migration {revision}, not {head}: run `lodestone migrate`.")
    return Health(status="ok")
