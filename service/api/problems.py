"""RFC 9457 problem details: one rendering for every refusal."""

import json
import logging
from decimal import Decimal
from typing import Any

from anyio import move_on_after
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.observability import request_id_var
from service.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    LodestoneError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    invalid,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("lodestone")

STATUS_TITLES = {
    error.status: error.title
    for error in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, Invalid)
} | {405: "Method not allowed"}


def problem(
    status: int,
    detail: str,
    slug: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:lodestone:problem:{slug}",
        "title": title or STATUS_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    body["request_id"] = request_id_var.get()
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


async def _lodestone_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LodestoneError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.detail, exc.slug, exc.errors, headers, exc.title)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "The body is not valid JSON.", BadRequest.slug)
    fields = [FieldError(_field(tuple(e.get("loc", ()))), _message(e)) for e in errors]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    return problem(422, detail or "The request is not valid.", "invalid", fields)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 400: "bad-request"}.get(exc.status_code, "http")
    return problem(exc.status_code, str(exc.detail), slug, headers=getattr(exc, "headers", None))


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A unique key raced by a concurrent writer (two requests creating the same code at once).
    log.info("integrity error answered 409: %s", exc)
    return problem(409, "This conflicts with something recorded at the same time; nothing was recorded.", "conflict")


async def _unstorable(_request: Request, exc: Exception) -> JSONResponse:
    # Last line of defence: validation should have refused any value the database cannot hold.
    log.warning("data error answered 422: %s", exc)
    return problem(422, "A value in this request cannot be stored; nothing was recorded.", "invalid")


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database error answered 503: %s", exc)
    busy = Unavailable("The database is unavailable or busy; nothing was recorded. Retry later.")
    return problem(busy.status, busy.detail, busy.slug, headers={"Retry-After": "1"}, title=busy.title)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "Something went wrong on our side; nothing was recorded.", "internal")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LodestoneError, _lodestone_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)


def _constant_as_decimal(name: str) -> Decimal:
    # NaN and Infinity are not JSON; they reach validation as non-finite decimals and are refused there.
    return Decimal(name)


class _RepeatedKeys(dict[str, Any]):
    """A JSON object that named ``key`` more than once (the last value kept, as ``json`` does)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                self.key = key
                break
            seen.add(key)


def _repeated_key_at(document: Any) -> str:
    """Where the first object with a repeated key is, as a field (``outputs.0.quantity``)."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _RepeatedKeys):
            return ".".join((*path, node.key))
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend(((*path, str(name)), child) for name, child in reversed(list(children)))
    raise AssertionError("no repeated key")  # pragma: no cover (only called when the parser saw one)


class _Refused(HTTPException):
    """Carries a refusal through FastAPI's body parsing, which answers 400 to any other exception from ``json()``."""

    def __init__(self, refusal: LodestoneError) -> None:
        super().__init__(refusal.status, refusal.detail)
        self.refusal = refusal


def _load_exact(body: bytes) -> Any:
    repeated = False

    def pairs_to_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        found = dict(pairs)
        if len(found) == len(pairs):
            return found
        repeated = True
        return _RepeatedKeys(pairs)

    document = json.loads(
        body, parse_float=Decimal, parse_constant=_constant_as_decimal, object_pairs_hook=pairs_to_object
    )
    if repeated:  # looked for only then: the walk costs as much as the parse
        place = _repeated_key_at(document)
        raise _Refused(invalid(place, "is given more than once; name each key once per object"))
    return document


class ExactJSONRequest(Request):
    """JSON numbers parsed as ``Decimal``, never as binary floats; an object naming a key twice is refused.

    ``json`` keeps the last of repeated keys while another reader (a gateway, a log) may keep the
    first: the two would act on different requests. So a repeated key, at any depth, is 422.
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                document = _load_exact(body)
            except (ValueError, RecursionError):
                raise HTTPException(400, "The body is not readable JSON.") from None
            self._json = document
        return self._json


class ExactJSONRoute(APIRoute):
    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Any:
            try:
                return await handler(ExactJSONRequest(request.scope, request.receive))
            except _Refused as refused:
                raise refused.refusal from None

        return exact_handler


# Refusing a body before it is all read: uvicorn closes the socket after the answer when the
# client sent `Connection: close` (urllib always does), and a socket closed with request bytes
# unread makes the kernel send a reset; a client still sending then fails and never reads the
# 413 (RFC 9112, 9.6). So the rest of a refused body is read and dropped first. That costs no
# memory (each chunk is dropped; uvicorn stops reading the socket past 64 KiB buffered), only
# time and bandwidth, hence bounds: 8 MiB (eight times the default limit, an honest mistake's
# size, a fraction of a second on a LAN) within 10 seconds. Past them the 413 says
# `Connection: close`, and a client still sending may see a reset instead.
DISCARD_BYTES = 8 * 1024 * 1024
DISCARD_SECONDS = 10.0


async def _discard_rest(receive: Receive) -> bool:
    """Read and drop the rest of a refused body; False if it did not end within the bounds."""
    discarded = 0
    with move_on_after(DISCARD_SECONDS):
        while discarded <= DISCARD_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return False
            discarded += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
    return False


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            # No body follows (RFC 9112, 6.3): a GET, usually. Nothing to hold back or replay.
            await self.app(scope, receive, send)
            return
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            if headers.get(b"expect", b"").lower() == b"100-continue":
                # The client waits for our go-ahead before sending the body: it is never sent.
                await self._refuse(scope, receive, send, body_ended=False)
            else:
                ended = int(length) <= DISCARD_BYTES and await _discard_rest(receive)
                await self._refuse(scope, receive, send, body_ended=ended)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                chunks.clear()
                ended = not more or await _discard_rest(receive)
                await self._refuse(scope, receive, send, body_ended=ended)
                return
            chunks.append(chunk)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, body_ended: bool) -> None:
        # A body not read to its end is cut off by closing the connection after the answer
        # (RFC 9110, 15.5.14); uvicorn closes on `Connection: close`, and would otherwise keep
        # reading and dropping the rest without bound, or wait for a body never sent.
        too_large = PayloadTooLarge(f"The body is larger than {self.max_bytes} bytes.")
        headers = None if body_ended else {"Connection": "close"}
        await problem(413, too_large.detail, too_large.slug, headers=headers)(scope, receive, send)
