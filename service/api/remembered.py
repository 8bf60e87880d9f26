"""SKU answers already given, kept as the bytes sent, and sent again before routing while they still hold.

A procurement portal asks the same SKUs the same questions all day. The SKU routes answer through
``answered``: the answer's bytes are remembered under the request itself (path, query string, what the
caller may see, the day) with the statement and row the answer was pinned to (the SKU's revision, and for
the rules the prices' and custom rules'). ``RememberedAnswers`` sends them again for the same request while
that statement still gives that row: one query, no routing, no dependency solving, no serialization. Any
other request, and any doubt (a key not recently confirmed, a consistency token, an answer no longer
pinned), goes through the routes as before. Justified by the "remembered SKU answer" rows of BENCHMARKS.md.
"""

import re
from collections.abc import Mapping
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
from service.access import READ_CATALOG, Principal
from service.api import consistency
from service.api_keys import KnownKeys, operator
from service.db import ReadReplica, driver_statement, utcnow

_ANSWER_PATH = re.compile(r"/v1/skus/[^/]+/(?:origin|compliance)")
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

    def holds(self, engine: sa.Engine) -> bool:
        """Whether the statement gives the row again; False also when the database cannot be asked now (the
        request then goes the long way, which says what is wrong)."""
        # A pooled driver connection, one statement in its own snapshot, no SQLAlchemy layers (see driver_statement).
        try:
            connection = engine.raw_connection()
        except sa.exc.SQLAlchemyError:
            return False
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, self.parameters)
            found = cursor.fetchone()
            cursor.close()
        except engine.dialect.loaded_dbapi.Error:
            connection.invalidate()  # a connection that failed is not given to the next request
            return False
        finally:
            connection.close()
        return found is not None and tuple(found) == self.row

    def holds_in(self, connection: sa.Connection) -> bool:
        found = connection.exec_driver_sql(self.sql, self.parameters).first()
        return found is not None and tuple(found) == self.row


def _holds(state: State, pinned: Pinned) -> bool:
    """``pinned.holds`` where reads go: the replica while it keeps up (``ReadReplica.session``), else the primary."""
    replica: ReadReplica | None = state.read_replica
    session = replica.session(None) if replica is not None else None
    if session is None:
        return pinned.holds(state.check_engine or state.engine)
    with session:
        try:
            return pinned.holds_in(session.connection())
        except sa.exc.SQLAlchemyError:
            return False


@dataclass(frozen=True)
class Remembered:
    """An answer's bytes around the moment it is given (``tail`` None: the moment was asked, and is in ``head``)."""

    pinned: Pinned
    head: bytes
    tail: bytes | None
    route: object  # the route that answered, for what is counted by route (``service.metrics``)

    def body(self, moment: datetime) -> bytes:
        return self.head if self.tail is None else self.head + _MOMENT.dump_json(moment) + self.tail


def _seen_as(principal: Principal) -> str:
    """Callers who see the same lots get the same bytes: everything, or one organization's."""
    return "*" if visibility.sees_everything(principal) else f"org:{principal.organization_pk}"


def _key(scope: Scope, principal: Principal) -> tuple[object, ...]:
    # The day: a rules' answer without `on` is for today.
    return scope["path"], scope.get("query_string", b""), _seen_as(principal), datetime.now(UTC).date()


def answered(request: Request, answer: BaseModel, pinned: Pinned, moment: datetime, as_of: datetime | None) -> Response:
    """The answer as sent, remembered for this request while ``pinned`` holds.

    Without ``as_of`` the answer is given as of the request's own moment, so the bytes are kept around it.
    """
    if as_of is not None:
        remembered = Remembered(pinned, answer.model_dump_json().encode(), None, request.scope.get("route"))
    else:
        parts = answer.model_copy(update={"as_of": _SENTINEL}).model_dump_json().encode().split(_SENTINEL_JSON)
        assert len(parts) == 2, "an answer names the moment it is given once"
        remembered = Remembered(pinned, parts[0], parts[1], request.scope.get("route"))
    principal: Principal = request.state.principal
    request.app.state.remembered.put(_key(request.scope, principal), remembered)
    return Response(remembered.body(moment), media_type="application/json")


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
        asked = scope["type"] == "http" and scope["method"] == "GET" and _ANSWER_PATH.fullmatch(scope["path"])
        if asked and await self._send_remembered(scope, send):
            return
        await self.app(scope, receive, send)

    async def _send_remembered(self, scope: Scope, send: Send) -> bool:
        state: State = scope["app"].state
        presented = _presented(scope["headers"])
        principal = _principal(state, presented) if presented else None
        if principal is None or principal.role not in READ_CATALOG:
            return False
        remembered: Remembered | None = state.remembered.get(_key(scope, principal))
        if remembered is None:
            return False
        moment = utcnow()
        # On SQLite a read is CPU work on a local file (see ``deps.reads_on_loop``); elsewhere a round trip.
        if state.reads_on_event_loop:
            holds = _holds(state, remembered.pinned)
        else:
            holds = await to_thread.run_sync(_holds, state, remembered.pinned, limiter=state.side_connections)
        if not holds:
            return False
        scope.setdefault("state", {}).update(principal=principal, remembered=True)  # the access line says so
        scope["route"] = remembered.route
        memo = state.compliance if scope["path"].endswith("/compliance") else state.answers
        if memo.counters is not None:
            memo.counters.remembered.inc()
        body = remembered.body(moment)
        headers: list[Any] = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
