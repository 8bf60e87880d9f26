"""The Idempotency-Key header on any POST: same key and body replay the answer, and record nothing new."""

import hashlib

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import idempotency
from service.api.problems import problem
from service.models import IdempotencyRecord

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255


def _parse_key(raw: bytes) -> str | None:
    """Bare or quoted (a structured-field string); printable ASCII, 1 to 255 characters."""
    text = raw.decode("latin-1").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not 0 < len(text) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in text):
        return None
    return text


def _caller(headers: dict[bytes, bytes]) -> str:
    """Keys are scoped to the API key that sent them: a hash of the presented credential, never the credential."""
    presented = headers.get(b"authorization") or headers.get(b"x-api-key") or b""
    return hashlib.sha256(presented).hexdigest()


def side(scope: Scope) -> CapacityLimiter:
    """The cap on connections used beside request transactions (see ``service.db``)."""
    limiter: CapacityLimiter = scope["app"].state.side_connections
    return limiter


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if scope["type"] != "http" or scope["method"] != "POST" or HEADER not in headers:
            await self.app(scope, receive, send)
            return
        key = _parse_key(headers[HEADER])
        if key is None:
            await problem(422, "Idempotency-Key must be 1 to 255 printable ASCII characters.", "invalid")(
                scope, receive, send
            )
            return
        body = await _read_body(receive)
        request_hash = hashlib.sha256(
            b"%s %s?%s\n%s" % (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body)
        ).hexdigest()
        engine: Engine = scope["app"].state.engine
        caller = _caller(headers)
        claim = await to_thread.run_sync(idempotency.claim, engine, caller, key, request_hash, limiter=side(scope))
        if claim.outcome == "mismatch":
            detail = "This Idempotency-Key was used with a different request; use a new key for a new request."
            await problem(422, detail, "idempotency-mismatch")(scope, receive, send)
            return
        if claim.outcome == "in_flight":
            detail = "A request with this Idempotency-Key is still running; retry when it has answered."
            await problem(409, detail, "idempotency-in-flight", headers={"Retry-After": "1"})(scope, receive, send)
            return
        if claim.outcome == "replay":
            assert claim.record is not None
            await _replay(claim.record, send)
            return
        await self._run(scope, body, send, engine, caller, key)

    async def _run(self, scope: Scope, body: bytes, send: Send, engine: Engine, caller: str, key: str) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        replayed = False

        async def receive_body() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_body, capture)
        except BaseException:
            await to_thread.run_sync(idempotency.release, engine, caller, key, limiter=side(scope))
            raise
        if start is None:
            await to_thread.run_sync(idempotency.release, engine, caller, key, limiter=side(scope))
            return
        content_type = dict(start.get("headers", [])).get(b"content-type", b"").decode("latin-1")
        await to_thread.run_sync(
            idempotency.finish,
            engine,
            caller,
            key,
            start["status"],
            content_type,
            b"".join(chunks),
            limiter=side(scope),
        )


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    body = (record.response_body or "").encode()
    headers = [
        (b"content-type", (record.content_type or "application/json").encode()),
        (b"content-length", str(len(body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": record.status_code or 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
