"""The bare framework `make bench` measures Lodestone against: FastAPI, nothing else.

No middleware, no key, no database, no logging: ``/healthz`` answers ``{"status": "ok"}`` and
``/answer`` the exact bytes of the answer being measured (read once from ``BARE_ANSWER_FILE``), as
a plain ``Response``. Served by the same uvicorn settings and worker count as ``lodestone serve``.
"""

import os
from pathlib import Path

from fastapi import FastAPI, Response

ANSWER = Path(os.environ["BARE_ANSWER_FILE"]).read_bytes()
app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/answer")
def answer() -> Response:
    return Response(content=ANSWER, media_type="application/json")
