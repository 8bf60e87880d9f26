"""SKU answers and pages of lots already given, kept as the bytes sent, and sent again before routing while
they still hold.

A procurement portal asks the same SKUs the same questions all day; a manufacturer's system pages through its
lots. The SKU routes answer through ``answered``, the lots list through ``remembered_page``: the bytes
are remembered under the request itself (path, query string, what the caller may see, the day) with
the statement and row they were pinned to (the SKU's revision, and for the rules the prices' and custom
rules'; for lots, the newest audit entry, lot and event). ``RememberedAnswers`` sends them again for the same
request while that statement still gives that row: one query, no routing, no dependency solving, no
serialization. Where that query is a round trip (PostgreSQL), a worker's checks run in batches, one thread hop
each, requests asking the same statement at the same moment sharing one run (``SharedChecks``). Any other
request, and any doubt (a key not recently confirmed, a consistency token, bytes no longer pinned), goes through
the routes as before. Justified by the "remembered SKU answer" and "/v1/lots?limit=50" rows of BENCHMARKS.md.
"""

import asyncio
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from service import visibility
from service.access import READ_CATALOG, READ_MATERIAL, Principal, Role
from service.api import consistency
from service.api_keys import KnownKeys, operator
from service.db import ReadReplica, driver_rows, driver_statement, utcnow
from service.metrics import AnswerCounters

_REMEMBERED_PATH = re.compile(r"/v1/skus/[^/]+/(?:origin|compliance)|/v1/lots")
_MOMENT = TypeAdapter(datetime)
# Stands for the moment an answer is given in the bytes remembered: no answer holds this date otherwise.
_SENTINEL = datetime(1, 1, 1, tzinfo=UTC)
_SENTINEL_JSON = _MOMENT.dump_json(_SENTINEL)
JSON_HEADERS = ((b"content-type", b"application/json"),)
# A request that must not be answered from memory: a client asking to see its own write (read replicas).
_OWN_WRITE = consistency.HEADER.lower().encode()


@dataclass(frozen=True)
class Pinned:
    """What an answer was computed from: while ``sql`` gives ``row`` again, the answer is unchanged."""

    sql: str
    parameters: Any
    row: tuple[object, ...]

    @classmethod
    def to(
        cls, engine: sa.Engine, query: tuple[sa.ClauseElement, Mapping[str, object]], row: tuple[object, ...]
    ) -> "Pinned":
        """Pinned to the row ``query`` (a statement and its parameters) gave when the answer was computed."""
        return cls(*driver_statement(engine, *query), row)

    @property
    def asked(self) -> Hashable:
        """The statement with its parameters: two pins asking the same are answered by one run of it."""
        parameters = self.parameters
        return self.sql, tuple(parameters.items()) if isinstance(parameters, dict) else tuple(parameters)

    def found(self, engine: sa.Engine) -> tuple[object, ...] | None:
        """The row the statement gives now; None also when the database cannot be asked now (the request then
        goes the long way, which says what is wrong)."""
        return rows_found(engine, [self])[0]


def rows_found(engine: sa.Engine, pins: list[Pinned]) -> list[tuple[object, ...] | None]:
    """The rows ``pins``' statements give now (``db.driver_rows``: one round trip on PostgreSQL); all None when
    the database cannot be asked now."""
    try:
        return driver_rows(engine, [(pinned.sql, pinned.parameters) for pinned in pins])
    except (sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error):
        return [None] * len(pins)


def _found(state: State, pinned: Pinned) -> tuple[object, ...] | None:
    """``pinned.found`` where reads go: the replica while it keeps up (``ReadReplica.found``), else the primary."""
    replica: ReadReplica | None = state.read_replica
    if replica is not None:
        serves, found = replica.found(pinned.sql, pinned.parameters)
        if serves:
            return found
    return pinned.found(state.check_engine or state.engine)


def _found_all(state: State, pins: list[Pinned]) -> list[tuple[object, ...] | None]:
    """``_found`` of each; on the primary, all in one round trip (``rows_found``)."""
    if state.read_replica is not None:
        return [_found(state, pinned) for pinned in pins]
    return rows_found(state.check_engine or state.engine, pins)


class SharedChecks:
    """A worker's checks, run in batches: every request that arrives while a batch runs joins the next one, which
    begins when that one ends, and requests asking the same pinned statement share its one run there.

    So no request is answered from a row read before it was sent (a write it saw committed is always seen), and
    a batch costs one thread hop for all its statements. Without this, each of a worker's concurrent requests
    paid its own round trip and two thread hops. One worker's event loop drives it; nothing here is shared
    between threads.
    """

    def __init__(self, state: State) -> None:
        self._state = state
        self._next: dict[Hashable, tuple[Pinned, asyncio.Future[tuple[object, ...] | None]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def found(self, pinned: Pinned) -> tuple[object, ...] | None:
        loop = asyncio.get_running_loop()
        asked = pinned.asked
        if asked not in self._next:
            self._next[asked] = (pinned, loop.create_future())
        waited = self._next[asked][1]
        if self._running is None:
            self._running = loop.create_task(self._run())
        # One caller gone (a client that hung up) does not cancel the others' run.
        return await asyncio.shield(waited)

    async def _run(self) -> None:
        state = self._state
        batch: dict[Hashable, tuple[Pinned, asyncio.Future[tuple[object, ...] | None]]] = {}
        try:
            while self._next:
                batch, self._next = self._next, {}
                pins = [pinned for pinned, _waited in batch.values()]
                rows = await to_thread.run_sync(_found_all, state, pins, limiter=state.side_connections)
                for (_pinned, waited), row in zip(batch.values(), rows, strict=True):
                    waited.set_result(row)
        finally:
            self._running = None
            # Stopped (the worker shutting down): whoever still waits goes the long way.
            left, self._next = [*batch.values(), *self._next.values()], {}
            for _pinned, waited in left:
                if not waited.done():
                    waited.set_result(None)


@dataclass(frozen=True)
class Remembered:
    """An answer's bytes around the moment it is given (``tail`` None: the moment was asked, and is in ``head``)."""

    pinned: Pinned
    head: bytes
    tail: bytes | None
    route: object  # the route that answered, for what is counted by route (``service.metrics``)
    readers: tuple[Role, ...]  # the roles the route lets through
    counters: AnswerCounters | None = None  # an answer memo's, counting this as a remembered answer

    def body(self, moment: datetime) -> bytes:
        return self.head if self.tail is None else self.head + _MOMENT.dump_json(moment) + self.tail


def _seen_as(principal: Principal) -> str:
    """Callers who see the same lots get the same bytes: everything, or one organization's."""
    return "*" if visibility.sees_everything(principal) else f"org:{principal.organization_pk}"


def _key(scope: Scope, principal: Principal) -> tuple[object, ...]:
    # The day: a rules' answer without `on` is for today.
    return scope["path"], scope.get("query_string", b""), _seen_as(principal), datetime.now(UTC).date()


def _remember(request: Request, remembered: Remembered) -> None:
    principal: Principal = request.state.principal
    request.app.state.remembered.put(_key(request.scope, principal), remembered)


def answered(
    request: Request,
    answer: BaseModel,
    pinned: Pinned,
    moment: datetime,
    as_of: datetime | None,
    counters: AnswerCounters | None,
) -> Response:
    """The answer as sent (any key may ask), remembered for this request while ``pinned`` holds (``counters``: the
    memo's that count it when sent again).

    Without ``as_of`` the answer is given as of the request's own moment, so the bytes are kept around it.
    """
    route = request.scope.get("route")
    if as_of is not None:
        remembered = Remembered(pinned, answer.model_dump_json().encode(), None, route, READ_CATALOG, counters)
    else:
        parts = answer.model_copy(update={"as_of": _SENTINEL}).model_dump_json().encode().split(_SENTINEL_JSON)
        assert len(parts) == 2, "an answer names the moment it is given once"
        remembered = Remembered(pinned, parts[0], parts[1], route, READ_CATALOG, counters)
    _remember(request, remembered)
    return Response(remembered.body(moment), media_type="application/json")


def remembered_page(request: Request, page: bytes, pinned: Pinned) -> Response:
    """A page of lots as sent (it names no moment; the keys that see lots may ask), remembered for this request
    while ``pinned`` holds."""
    _remember(request, Remembered(pinned, page, None, request.scope.get("route"), READ_MATERIAL))
    return Response(page, media_type="application/json")


def _presented(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key as ``require_principal`` reads it, when sent plainly; None sends the request the long way."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
        elif name == _OWN_WRITE:
            return None
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        return credentials if scheme.lower() == "bearer" and credentials else None
    return api_key.decode("latin-1") if api_key else None


def _principal(state: State, presented: str) -> Principal | None:
    known: KnownKeys = state.known_keys
    return operator(presented, state.admin_keys) or known.get(presented)


class RememberedAnswers:
    """Send a SKU answer already given for the same request, while what it was computed from is unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = scope["type"] == "http" and scope["method"] == "GET" and _REMEMBERED_PATH.fullmatch(scope["path"])
        if asked and await self._send_remembered(scope, send):
            return
        await self.app(scope, receive, send)

    async def _send_remembered(self, scope: Scope, send: Send) -> bool:
        state: State = scope["app"].state
        presented = _presented(scope["headers"])
        principal = _principal(state, presented) if presented else None
        if principal is None:
            return False
        remembered: Remembered | None = state.remembered.get(_key(scope, principal))
        if remembered is None or principal.role not in remembered.readers:
            return False
        moment = utcnow()
        # On SQLite a read is CPU work on a local file (see ``deps.reads_on_loop``); elsewhere a round trip.
        pinned = remembered.pinned
        if state.reads_on_event_loop:
            found = _found(state, pinned)
        else:
            shared: SharedChecks = state.shared_checks
            found = await shared.found(pinned)
        if found != pinned.row:
            return False
        scope.setdefault("state", {}).update(principal=principal, remembered=True)  # the access line says so
        scope["route"] = remembered.route
        if remembered.counters is not None:
            remembered.counters.remembered.inc()
        body = remembered.body(moment)
        headers: list[Any] = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
