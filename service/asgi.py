"""Entry point for ASGI servers: ``uvicorn service.asgi:app``."""

import gc

from service.app import create_app

app = create_app()
# Everything built so far (the app, its routes, SQLAlchemy's mappers) lives as long as the
# worker: keep the collector from walking it again, and collect young objects less often.
# Requests allocate many short-lived objects, and each collection costs a few percent.
gc.freeze()
gc.set_threshold(50_000, 50, 100)
