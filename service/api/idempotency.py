"""The Idempotency-Key header on POST writes: same key and body replay the answer, and record nothing new.

Two halves. ``claim_key`` runs in the write context of every POST route, so only once the route
exists and its caller is authenticated (an anonymous caller, a revoked key or an unknown path is
answered as without the header, and nothing is stored); the key is scoped to the API key's id.
``Idempotency``, a middleware, holds a claimed request's answer until it is stored, then sends it,
and sends the answers ``claim_key`` gives instead of running the request (``Answered``).
"""

import hashlib
from dataclasses import dataclass

from anyio import CapacityLimiter, to_thread
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import idempotency
from service.access import Principal
from service.api.problems import problem
from service.errors import Invalid
from service.models import IdempotencyRecord

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Pending:
    """A key claimed for this request: its answer is to be stored before it is sent."""

    scope: str
    key: str
    request_hash: str


class Answered(Exception):
    """The answer to a request whose Idempotency-Key was seen before: sent instead of running the request."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered for an Idempotency-Key")
        self.response = response


def _parse_key(raw: str) -> str | None:
    """Bare or quoted (a structured-field string); printable ASCII, 1 to 255 characters."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not 0 < len(text) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in text):
        return None
    return text


async def claim_key(request: Request, session: Session, principal: Principal, body: bytes) -> None:
    """Claim the request's Idempotency-Key in its transaction, or answer from what the key already holds."""
    raw = request.headers.get(HEADER)
    if request.method != "POST" or raw is None:
        return
    key = _parse_key(raw)
    if key is None:
        raise Invalid("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    scope = request.scope
    request_hash = hashlib.sha256(
        b"%s %s?%s\n%s" % (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body)
    ).hexdigest()
    # A write: its transaction holds the write lock (SQLite) from authentication on, so this runs in a thread.
    claim = await run_in_threadpool(idempotency.claim, session, principal.scope, key, request_hash)
    if claim.outcome == "mismatch":
        detail = "This Idempotency-Key was used with a different request; use a new key for a new request."
        raise Answered(problem(422, detail, "idempotency-mismatch"))
    if claim.outcome == "in_flight":
        detail = "A request with this Idempotency-Key is still running; retry when it has answered."
        raise Answered(problem(409, detail, "idempotency-in-flight", headers={"Retry-After": "1"}))
    if claim.outcome == "replay":
        assert claim.record is not None
        raise Answered(_replayed(claim.record))
    request.state.idempotency = Pending(principal.scope, key, request_hash)


def _replayed(record: IdempotencyRecord) -> Response:
    return Response(
        (record.response_body or "").encode(),
        status_code=record.status_code or 200,
        headers={"Content-Type": record.content_type or "application/json", "Idempotent-Replayed": "true"},
    )


def side(scope: Scope) -> CapacityLimiter:
    """The cap on connections used beside request transactions (see ``service.db``)."""
    limiter: CapacityLimiter = scope["app"].state.side_connections
    return limiter


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        stored = False

        def pending() -> Pending | None:
            claimed: Pending | None = scope.get("state", {}).get("idempotency")
            return claimed

        async def send_once_stored(message: Message) -> None:
            nonlocal stored
            claimed = pending()
            if claimed is None or stored:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await _store(scope, claimed, held)
                stored = True
                for kept in held:
                    await send(kept)

        try:
            await self.app(scope, receive, send_once_stored)
        except Answered as answered:
            await answered.response(scope, receive, send)
        except BaseException:
            claimed = pending()
            if claimed is not None and not stored:
                engine: Engine = scope["app"].state.engine
                await to_thread.run_sync(idempotency.release, engine, claimed.scope, claimed.key, limiter=side(scope))
            raise


async def _store(scope: Scope, claimed: Pending, messages: list[Message]) -> None:
    start = messages[0]
    content_type = dict(start.get("headers", [])).get(b"content-type", b"").decode("latin-1")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    engine: Engine = scope["app"].state.engine
    await to_thread.run_sync(
        idempotency.finish,
        engine,
        claimed.scope,
        claimed.key,
        claimed.request_hash,
        start["status"],
        content_type,
        body,
        limiter=side(scope),
    )
