"""``GET /metrics``: Prometheus metrics for operators, behind an admin or auditor key, outside ``/v1``."""

from collections.abc import Mapping

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine

from service import metrics
from service.api.common import problems
from service.api.deps import AuditReader

router = APIRouter(tags=["metrics"])

EXAMPLE = """\
# HELP lodestone_http_requests_total HTTP requests answered, by route template (not the path asked), method and status.
# TYPE lodestone_http_requests_total counter
lodestone_http_requests_total{method="GET",route="/v1/skus/{sku}/origin",status="200"} 1027.0
# HELP lodestone_answers_total SKU answers given, by memo (origin, compliance) and outcome (remembered, computed).
# TYPE lodestone_answers_total counter
lodestone_answers_total{memo="origin",outcome="computed"} 3.0
lodestone_answers_total{memo="origin",outcome="remembered"} 1024.0
# HELP lodestone_db_pool_checked_out Database connections in use, by engine role (primary, replica).
# TYPE lodestone_db_pool_checked_out gauge
lodestone_db_pool_checked_out{role="primary"} 1.0
"""


@router.get(
    "/metrics",
    summary="Metrics for Prometheus",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text format: requests by route, latency, database pools, answers "
            "remembered and computed, events and lots recorded; added up over every worker.",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}, "example": EXAMPLE}},
        },
        **problems(),
    },
)
def get_metrics(request: Request, _actor: AuditReader) -> Response:
    """For the operators' Prometheus (an admin or auditor key): request counts and latency, pools, answers, events."""
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _engines(app: FastAPI) -> metrics.Engines:
    def engines() -> Mapping[str, Engine]:
        found = {"primary": app.state.engine}
        replica = getattr(app.state, "read_engine", None)
        if replica is not None:
            found["replica"] = replica
        return found

    return engines


def install(app: FastAPI) -> None:
    """Count what operators watch and serve it at ``/metrics``; with ``LODESTONE_METRICS=false``, neither.

    Requests are counted by ``RequestContext`` (given ``metrics=True``); this counts the app's answers,
    and reads its pools when scraped.
    """
    if not app.state.settings.metrics:
        return
    app.state.metrics = metrics.registry(_engines(app))
    app.state.answers.counters = metrics.answer_counters("origin")
    app.state.compliance.counters = metrics.answer_counters("compliance")
    app.include_router(router)
