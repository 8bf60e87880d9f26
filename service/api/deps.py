"""Request-scoped dependencies: one transaction per request, the caller, settings, the write context."""

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.concurrency import contextmanager_in_threadpool, run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service import access
from service.access import Principal, Role
from service.api.consistency import answer_token, requested_token
from service.api.idempotency import claim_key
from service.api_keys import KnownKeys, authenticate
from service.audit import WriteContext
from service.config import Settings
from service.db import SESSION_CONNECTIONS, ReadReplica, read_transaction, transaction, wal_position

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api key>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key in `X-API-Key`.")


def reads_on_loop(request: Request) -> bool:
    """Whether this request's database work may run on the event loop instead of a worker thread.

    Only a read, and by default only on SQLite (``LODESTONE_READS_ON_EVENT_LOOP``): there a read is
    a library call on a local file that never waits for a lock (WAL), so it is CPU work that a thread
    would not take off the loop (it needs the GIL), only add hops to; in threads the SKU answer
    serves half as many requests (BENCHMARKS.md, "database work on the event loop"). On PostgreSQL
    every statement is a network round trip, and a write may wait for locks or for its commit to
    reach the disk: either would stall every other request of the worker, so they run in threads.
    """
    return request.method in READ_METHODS and request.app.state.reads_on_event_loop


async def run_database_work(request: Request, work: Callable[..., T], *args: object) -> T:
    """``work(*args)``: on the event loop where ``reads_on_loop`` allows, otherwise in a worker thread."""
    if reads_on_loop(request):
        return work(*args)
    return await run_in_threadpool(work, *args)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's one transaction, committed when the handler returns.

    Opening it touches nothing (the first statement begins it). Committing or rolling back runs
    in a thread of its own limiter (``contextmanager_in_threadpool``), so a request that holds a
    lock never waits for a pool thread to release it, and never blocks the event loop while
    PostgreSQL or the disk answers; only SQLite reads finish on the loop (see ``reads_on_loop``).
    With a read replica, a read runs there when it may (``db.read_transaction``) and a write's answer
    carries the consistency token (``api.consistency``).
    """
    engine = request.app.state.engine
    replica: ReadReplica | None = request.app.state.read_replica
    reading = request.method in READ_METHODS
    # A read with a token goes to the replica only once it has replayed the write (``consistency``).
    token = requested_token(request) if reading else None
    manager = read_transaction(engine, replica, token) if reading else transaction(engine, write=True)
    if reads_on_loop(request):
        with manager as session:
            yield session
    else:
        async with contextmanager_in_threadpool(manager) as session:
            yield session
    if replica is not None and not reading:
        answer_token(request, await run_in_threadpool(wal_position, engine))


# At most SESSION_CONNECTIONS transactions at once; the pool has room for them all. Requests beyond wait
# here without holding a worker thread; a request holding a row or write lock therefore
# always finds a thread to finish on (FastAPI serializes the answer in the thread pool
# before the transaction ends), and no request waits for a pool connection.
SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=SESSION_CONNECTIONS)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    x_api_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The caller, from the request's own transaction; 401 problem+json without a valid key."""
    authorization = request.headers.get("authorization")
    if authorization:
        # An Authorization header that is not a bearer token is a bad credential, not a missing one.
        presented: str | None = credentials.credentials if credentials is not None else "-"
    else:
        presented = x_api_key
    keys = request.app.state.admin_keys
    known: KnownKeys = request.app.state.known_keys
    reading = request.method in READ_METHODS and presented is not None
    principal = known.get(presented) if reading and presented else None
    if principal is None:
        checked_at = time.monotonic()
        # A write's first statement takes its lock (BEGIN IMMEDIATE on SQLite), so it waits in a thread.
        principal = await run_database_work(request, authenticate, session, presented, keys)
        if reading and presented:
            known.put(presented, principal, checked_at)
    request.state.principal = principal
    return principal


def allow(roles: tuple[Role, ...]) -> Callable[[Principal], Awaitable[Principal]]:
    # Async because it only compares roles: a sync dependency would cost a thread-pool hop per request.
    async def check(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        principal.require(roles)
        return principal

    return check


Reader = Annotated[Principal, Depends(allow(access.READ_CATALOG))]
MaterialReader = Annotated[Principal, Depends(allow(access.READ_MATERIAL))]
Writer = Annotated[Principal, Depends(allow(access.WRITE_OWN))]
Admin = Annotated[Principal, Depends(allow(access.ADMIN_ONLY))]
AuditReader = Annotated[Principal, Depends(allow(access.READ_AUDIT))]


async def write_context(
    request: Request, session: SessionDep, principal: Annotated[Principal, Depends(require_principal)]
) -> WriteContext:
    """What the audit trail keeps about a write: who, which request (the server's id), and a hash of the body.

    Every write route takes it, so it is also where a POST's Idempotency-Key is claimed: after routing
    and authentication, in the request's transaction.
    """
    body = await request.body()
    await claim_key(request, session, principal, body)
    return WriteContext(
        actor=principal,
        request_id=getattr(request.state, "request_id", "-"),
        body_hash=hashlib.sha256(body).hexdigest(),
    )


WriteContextDep = Annotated[WriteContext, Depends(write_context)]
