"""Liveness and readiness, for load balancers and orchestrators (no API key needed)."""

from decimal import Decimal
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from service.api.common import operation_id
from service.api.problems import PROBLEM_JSON
from service.db import ReadReplica, parse_lsn, replica_status
from service.errors import Unavailable
from service.migrations import database_revision
from service.schemas import Health, Problem

# Not included as a router: its routes are the app's own (``app.create_app``), so named as the app names them.
router = APIRouter(tags=["health"], generate_unique_id_function=operation_id)


class ReplicaHealth(BaseModel):
    """The read replica as this instance sees it; reads go to the primary unless it is ``streaming``."""

    state: Literal["streaming", "lagging", "down"] = Field(
        description="`streaming`: it answers reads. `lagging`: further behind than "
        "`LODESTONE_READ_REPLICA_MAX_LAG_SECONDS`, or not receiving WAL. `down`: unreachable, or no longer a replica.",
        examples=["streaming"],
    )
    lag_bytes: int | None = Field(
        None, description="WAL the primary has written and the replica has not replayed.", examples=[0]
    )
    lag_seconds: Decimal | None = Field(
        None,
        description="Age of the last transaction it replayed while it has WAL left to replay; 0 when caught up.",
        examples=["0"],
    )


class Readiness(Health):
    replica: ReplicaHealth | None = Field(None, description="Only when `LODESTONE_READ_DATABASE_URL` is set.")


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness",
    response_model_exclude_none=True,
    responses={
        200: {
            "description": "Ready. A replica that is down or lagging leaves this at 200: reads then go to the "
            "primary, so the instance still answers correctly (ask with `replica=required` to act on the replica)."
        },
        503: {
            "model": Problem,
            "description": "The database cannot be reached, or is not migrated to this version's schema; with "
            "`replica=required`, also when the read replica is not streaming within its lag bound.",
            "content": {PROBLEM_JSON: {}},
        },
        422: {
            "model": Problem,
            "description": "`replica` is neither `optional` nor `required`.",
            "content": {PROBLEM_JSON: {}},
        },
    },
)
async def readyz(
    request: Request,
    replica: Annotated[
        Literal["optional", "required"],
        Query(description="`required`: 503 unless the read replica is streaming within its lag bound."),
    ] = "optional",
) -> Readiness:
    """The database answers and its schema is this version's: safe to send traffic; the read replica, if any."""
    read_replica: ReadReplica | None = request.app.state.read_replica

    def read_revision() -> tuple[str | None, int | None]:
        with request.app.state.engine.connect() as connection:
            revision = database_revision(connection)
            if read_replica is None:
                return revision, None
            written = connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one()
            return revision, parse_lsn(written)

    try:
        revision, written = await to_thread.run_sync(read_revision, limiter=request.app.state.side_connections)
    except SQLAlchemyError as exc:
        raise Unavailable("The database cannot be reached.") from exc
    head = request.app.state.migration_head
    if revision != head:
        raise Unavailable(f"The database is at migration {revision}, not {head}: run `lodestone migrate`.")
    if read_replica is None:
        return Readiness(status="ok")
    health = await to_thread.run_sync(
        replica_health, read_replica, written or 0, limiter=request.app.state.side_connections
    )
    if replica == "required" and health.state != "streaming":
        raise Unavailable(f"The read replica is {health.state}; reads are going to the primary.")
    return Readiness(status="ok", replica=health)


def replica_health(read_replica: ReadReplica, written: int) -> ReplicaHealth:
    """How the replica stands against ``written``, the primary's WAL position read just before."""
    try:
        with read_replica.engine.connect() as connection:
            status = replica_status(connection)
    except SQLAlchemyError:
        return ReplicaHealth(state="down")
    if not status.is_standby:
        return ReplicaHealth(state="down")
    streaming = status.serves(read_replica.max_lag_seconds, None)
    return ReplicaHealth(
        state="streaming" if streaming else "lagging",
        lag_bytes=max(0, written - status.replayed),
        lag_seconds=status.lag_seconds,
    )
