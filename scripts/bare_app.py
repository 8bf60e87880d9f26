"""The bare framework `make bench` measures Lodestone against: FastAPI, nothing else.

No middleware, no key, no database or logging: ``/healthz`` answers ``{"status": "ok"}`` and
``/answer/<name>`` the exact bytes of each answer being measured (``<name>.json`` in ``BARE_ANSWERS``,
read once at start), as a plain ``Response``; ``/spread/<name>`` those of ``spread/<name>.json``.
Served by the same uvicorn settings and worker count as ``lodestone serve``. Its handlers are ``async``
(no thread-pool hop): the framework at its fastest is the ceiling.
"""

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ok"}


def _sending(content: bytes) -> Callable[[], Awaitable[Response]]:
    async def answer() -> Response:
        return Response(content=content, media_type="application/json")

    return answer


for answer_file in sorted(Path(os.environ["BARE_ANSWERS"]).glob("*.json")):
    app.add_api_route(f"/answer/{answer_file.stem}", _sending(answer_file.read_bytes()), methods=["GET"])

# Many answers asked in turn (``spread/<name>.json``): one route and a dictionary, as Lodestone's one SKU route
# with its path parameter; a route each would make the framework scan them all.
_SPREAD = {found.stem: found.read_bytes() for found in Path(os.environ["BARE_ANSWERS"]).glob("spread/*.json")}


@app.get("/spread/{name}")
async def spread(name: str) -> Response:
    return Response(content=_SPREAD[name], media_type="application/json")
