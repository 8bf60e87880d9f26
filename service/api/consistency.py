"""The ``Lodestone-Consistency-Token`` header: read your own writes when reads go to a replica.

A write's answer carries the primary's WAL position after its commit; a GET or HEAD that sends it back
is answered by the replica only once the replica has replayed that far, by the primary otherwise
(README, "Scale-out: read replicas"). The token is sent only when the service has a read replica; a
well-formed token is accepted everywhere (and ignored without a replica), a malformed one is 422.
"""

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.db import format_lsn, parse_lsn
from service.errors import invalid

HEADER = "Lodestone-Consistency-Token"
_STATE = "consistency_token"


def requested_token(request: Request) -> int | None:
    """The WAL position a read must reflect, from the request's header; 422 when the header is not a token."""
    sent = request.headers.get(HEADER)
    if sent is None:
        return None
    position = parse_lsn(sent.strip())
    if position is None:
        raise invalid(
            f"header {HEADER}",
            "must be a token from a write's answer, a WAL position such as 16/B374D848; send it back unchanged",
        )
    return position


def answer_token(request: Request, position: int | None) -> None:
    """Send ``position`` as the answer's token (``ConsistencyToken`` writes the header); None sends none."""
    if position is not None:
        setattr(request.state, _STATE, format_lsn(position))


class ConsistencyToken:
    """Add the token a write's transaction left in the request's state to its answer's headers.

    The request's transaction commits after its handler has built the answer, so a dependency cannot
    set the header itself: it leaves the token in the request's state, and this adds it on the way out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                token = scope.get("state", {}).get(_STATE)
                if token is not None:
                    message["headers"] = [*message.get("headers", []), (HEADER.lower().encode(), token.encode())]
            await send(message)

        await self.app(scope, receive, send_with_token)
