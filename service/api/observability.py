"""Request ids and structured JSON logs. Headers, bodies and keys are never logged."""

import contextvars
import json
import logging
import re
import secrets
import time
from typing import Any, Literal

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import UNMATCHED, observe_request

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9\-_.:]{1,64}")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("lodestone.access")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging() -> None:
    logger = logging.getLogger("lodestone")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class RequestContext:
    """Give every request an id, echo it, log the request, and answer an unexpected error with it.

    The server makes an id for every request (``request.state.request_id``): unique, it is what the
    audit trail keeps. The answer, its problem body and the logs carry the caller's `X-Request-ID`
    instead when it is well-formed, for correlation; the access log line then has the server's id beside it.
    """

    def __init__(
        self, app: ASGIApp, access_log: Literal["all", "writes", "off"] = "all", metrics: bool = False
    ) -> None:
        self.app = app
        self.access_log = access_log
        # Every request counted for /metrics (service.metrics) by its route's template, known once routed.
        self.observe = observe_request if metrics else None

    def _logged(self, method: str, status: int) -> bool:
        """Whether a request gets an access line: a read answered without trouble only under ``all`` (a line
        costs a fifth of a remembered answer's time; BENCHMARKS.md, "/healthz")."""
        if self.access_log == "writes":
            return method not in READ_METHODS or status >= 400
        return self.access_log == "all"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server_id = secrets.token_hex(16)  # 128 random bits, as a UUID4's hex would carry (a quarter of its cost)
        offered = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = offered if _ACCEPTED_ID.fullmatch(offered) else server_id
        scope.setdefault("state", {})["request_id"] = server_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Starlette answers an unexpected error outside every middleware, so without this the 500
            # would carry no request id. Answered here by the app's own handler (it logs the error);
            # raising further would only have the server log it again.
            unexpected = scope["app"].exception_handlers.get(Exception)
            if response_started or unexpected is None:
                raise
            response = await unexpected(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            if self.observe is not None:
                route = getattr(scope.get("route"), "path_format", UNMATCHED)
                self.observe(route, scope["method"], status, time.perf_counter() - started)
            if self._logged(scope["method"], status):
                self._log(scope, status, started, server_id, request_id)
            request_id_var.reset(token)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, server_id: str, request_id: str) -> None:
        state = scope.get("state", {})
        principal = state.get("principal")
        access_log.info(
            "request",
            extra={
                "fields": {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": getattr(principal, "key_id", None),
                    "role": getattr(principal, "role", None),
                }
                | ({"server_request_id": server_id} if server_id != request_id else {})
                | ({"remembered": True} if state.get("remembered") else {})
            },
        )
