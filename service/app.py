"""The ASGI application: routers, problem handlers, body limit, offline docs."""

import gc
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from service import __version__
from service.answer_memo import AnswerMemo
from service.api import (
    admin,
    answers,
    attestations,
    catalog,
    compliance,
    contract,
    disclosure,
    epcis_capture,
    epcis_events,
    events,
    health,
    jwks,
    lots,
    metrics,
    partners,
    portfolio,
    prices,
    rules,
)
from service.api.common import operation_id
from service.api.consistency import ConsistencyToken
from service.api.idempotency import Idempotency
from service.api.observability import RequestContext, configure_logging
from service.api.problems import PROBLEM_JSON, BodyLimit, install_problem_handlers
from service.api.remembered import Remembered, RememberedAnswers, SharedChecks
from service.api_keys import KnownKeys
from service.config import Settings, get_settings
from service.db import SIDE_CONNECTIONS, ReadReplica, create_check_engine, create_db_engine, create_read_replica
from service.migrations import head_revision
from service.schemas import AssessmentRead, ComplianceRead
from service.signing import load_signer

DESCRIPTION = """\
Lodestone traces rare earths from mine to refiner to metal and magnet maker to
finished product, and answers **does this SKU contain Chinese-origin rare
earths, how much, and through which stages?**, per element, per stage, and
honest about what nobody has shown (`unknown`).

* Every `/v1` route needs an API key: `Authorization: Bearer <key>` or
  `X-API-Key`. Use **Authorize** above.
* Keys belong to an organization and carry a role: `admin`, `recorder` (writes for its
  own organization), `auditor` (reads everything, including `/v1/audit`), `viewer`
  (organizations, facilities, SKUs and answers).
* Any POST may carry `Idempotency-Key` (bare or quoted): a retry with the same key and
  body gets the stored answer with `Idempotent-Replayed: true` and records nothing new;
  the same key with another body is 422; one still running is 409. Kept 24 hours.
* Every answer carries `X-Request-ID` (yours, if you send a well-formed one).
* Where reads are served by a PostgreSQL replica, every successful write answers with
  `Lodestone-Consistency-Token`; send it back on a GET to read your own write (the read waits for
  no one: the primary answers it until the replica has caught up). A malformed token is 422; without
  a replica a well-formed one is ignored. `/readyz` reports the replica.
* Decimals are JSON strings and exact; errors are RFC 9457 problem details.
* The contract, as readable pages ([contents](/contract/)): [API.md](/contract/API.md) (paths,
  fields, status codes), origin semantics in [ORIGIN.md](/contract/ORIGIN.md), compliance rules in
  [RULES.md](/contract/RULES.md) and the [worked examples](/contract/vectors/README.md). Each page says
  at its top what this version of the service does not do yet.
"""


TAGS = [
    {
        "name": "answers",
        "description": "The question buyers and customs lawyers ask, for a lot or a SKU. Every key asks about any SKU; "
        "lots it may not see are listed without id or code.",
    },
    {
        "name": "lots",
        "description": "Material as recorded: quantity, what is left, and the origin of its rare earths. Each "
        "organization's keys see the lots it holds; admins and auditors see all.",
    },
    {
        "name": "events",
        "description": "What happened to material: extracted, received, processed, shipped, voided. Written at your "
        "own facilities; read there and where delivered to you.",
    },
    {
        "name": "attestations",
        "description": "Answers signed by the service and kept unchanged; public keys to verify them.",
    },
    {
        "name": "disclosure",
        "description": "For auditors: the s.857 disclosure, the flow of rare earths, a printable report.",
    },
    {
        "name": "epcis",
        "description": "GS1 EPCIS 2.0: capture EPCIS documents as Lodestone events; query and export events as EPCIS.",
    },
    {"name": "rules", "description": "Compliance rules with dated versions: built-in (rules.json) and custom (admin)."},
    {"name": "organizations", "description": "Companies that hold facilities, lots and SKUs."},
    {"name": "facilities", "description": "Sites, their country and the processing stages they perform."},
    {"name": "skus", "description": "Products and components a buyer can ask about."},
    {"name": "api-keys", "description": "Keys by organization and role (admins; managers, their own); shown once."},
    {"name": "audit", "description": "Every successful write, hash-chained (auditor and admin)."},
    {"name": "health", "description": "For load balancers; no API key needed."},
    {"name": "metrics", "description": "For the operators' Prometheus: an admin or auditor key (README, Metrics)."},
]


def _documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document without FastAPI's default 422 on routes that take only a path id (never sent).

    FastAPI files a response's model under ``application/json`` even when the response declares
    ``application/problem+json``; problems are only ever sent as the latter, so the schema moves there
    and generated clients parse the body into ``Problem``.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(epcis_capture.OPENAPI_SCHEMAS)
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                only_path = "requestBody" not in operation and all(
                    p["in"] == "path" for p in operation.get("parameters", [])
                )
                if only_path:
                    operation["responses"].pop("422", None)
                for response in operation["responses"].values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        if "HTTPValidationError" not in json.dumps(schema["paths"]):
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep what start-up made out of the cycle collector's sweeps; close the database connections at the end.

    Everything imported and built by now lives as long as the worker: frozen, the collector no longer walks it
    on every full sweep (a batch's requests spent a tenth of their time there; BENCHMARKS.md, "Ingest").
    """
    gc.freeze()
    yield
    replica: ReadReplica | None = app.state.read_replica
    for engine in (
        app.state.engine,
        app.state.read_engine,
        app.state.check_engine,
        replica.checks if replica else None,
    ):
        if engine is not None:
            engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPIOffline(
        title="Lodestone",
        version=__version__,
        description=DESCRIPTION,
        strict_content_type=False,
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = create_db_engine(settings)
    app.state.read_replica = create_read_replica(settings)
    app.state.read_engine = app.state.read_replica.engine if app.state.read_replica is not None else None
    app.state.check_engine = create_check_engine(settings)
    app.state.reads_on_event_loop = (
        settings.reads_on_event_loop if settings.reads_on_event_loop is not None else settings.database_is_local()
    )
    app.state.admin_keys = settings.accepted_admin_keys()
    app.state.known_keys = KnownKeys(settings.key_cache_seconds)
    app.state.signer = load_signer(settings)
    app.state.answers = AnswerMemo[AssessmentRead]()
    app.state.compliance = AnswerMemo[ComplianceRead]()
    app.state.remembered = AnswerMemo[Remembered](capacity=2048)
    app.state.lot_reads = AnswerMemo[bytes](capacity=2048)
    app.state.shared_checks = SharedChecks(app.state)
    app.state.side_connections = CapacityLimiter(SIDE_CONNECTIONS)
    app.state.migration_head = head_revision()
    install_problem_handlers(app)
    if app.state.read_replica is not None:
        app.add_middleware(ConsistencyToken)
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RememberedAnswers)
    app.add_middleware(RequestContext, access_log=settings.access_log, metrics=settings.metrics)
    configure_logging()
    # The probes are the app's own routes, matched before any router is entered: a load balancer asks every second.
    app.router.routes.extend(health.router.routes)
    for router in (
        catalog.router,
        catalog.facility_router,
        catalog.sku_router,
        partners.maker_router,
        partners.supplier_router,
        events.router,
        lots.router,
        answers.router,
        compliance.router,
        portfolio.router,
        rules.router,
        prices.router,
        admin.key_router,
        admin.audit_router,
        attestations.router,
        jwks.router,
        disclosure.router,
        epcis_capture.router,
        epcis_events.router,
        contract.router,
    ):
        app.include_router(router)
    metrics.install(app)
    contract.secure_docs(app)
    app.openapi = _documented(app)  # type: ignore[method-assign]
    return app
