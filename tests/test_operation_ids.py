"""Operation ids: what generated clients name their functions, so short, unique and deliberate."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from service.app import create_app
from service.config import Settings

COMMITTED_OPENAPI = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")

# Clients call these by name: renaming a handler breaks them, so a rename shows up here first.
DOCUMENTED = {
    ("GET", "/healthz"): "healthz",
    ("GET", "/readyz"): "readyz",
    ("POST", "/v1/organizations"): "create_organization",
    ("GET", "/v1/organizations"): "list_organizations",
    ("GET", "/v1/organizations/{code}"): "get_organization",
    ("POST", "/v1/facilities"): "create_facility",
    ("GET", "/v1/facilities"): "list_facilities",
    ("GET", "/v1/facilities/{code}"): "get_facility",
    ("POST", "/v1/skus"): "create_sku",
    ("GET", "/v1/skus"): "list_skus",
    ("GET", "/v1/skus/{sku}"): "get_sku",
    ("POST", "/v1/events"): "record_event",
    ("POST", "/v1/events/batch"): "record_batch",
    ("GET", "/v1/events/{id}"): "get_event",
    ("POST", "/v1/events/{id}/void"): "void_event",
    ("GET", "/v1/lots"): "list_lots",
    ("GET", "/v1/lots/{id}"): "get_lot",
    ("GET", "/v1/lots/{id}/trace"): "trace_lot",
    ("GET", "/v1/lots/{id}/origin"): "assess_lot",
    ("GET", "/v1/skus/{sku}/origin"): "assess_sku",
    ("GET", "/v1/lots/{id}/compliance"): "lot_compliance",
    ("GET", "/v1/skus/{sku}/compliance"): "sku_compliance",
    ("GET", "/v1/compliance"): "list_compliance",
    ("GET", "/v1/origin"): "list_origin",
    ("GET", "/v1/rules"): "list_rules",
    ("GET", "/v1/rules/{id}"): "get_rule",
    ("POST", "/v1/rules"): "create_rule",
    ("GET", "/v1/prices"): "list_prices",
    ("POST", "/v1/prices"): "record_price",
    ("POST", "/v1/api-keys"): "create_key",
    ("GET", "/v1/api-keys"): "list_keys",
    ("DELETE", "/v1/api-keys/{id}"): "revoke_key",
    ("GET", "/v1/audit"): "list_audit",
    ("GET", "/v1/audit/verify"): "verify_audit",
    ("POST", "/v1/attestations"): "issue_attestation",
    ("GET", "/v1/attestations"): "list_attestations",
    ("GET", "/v1/attestations/{id}"): "get_attestation",
    ("POST", "/v1/epcis/capture"): "capture_document",
    ("OPTIONS", "/v1/epcis/capture"): "capture_options",
    ("GET", "/v1/epcis/capture"): "list_captures",
    ("GET", "/v1/epcis/capture/{id}"): "get_capture",
    ("GET", "/v1/epcis/events"): "query_epcis_events",
    ("POST", "/v1/epcis/events"): "capture_event",
    ("GET", "/v1/epcis/events/{eventID}"): "get_epcis_event",
    ("GET", "/v1/epcis/eventTypes"): "list_epcis_event_types",
    ("GET", "/v1/lots/{id}/epcis"): "export_lot_epcis",
    ("GET", "/.well-known/jwks.json"): "get_jwks",
    ("GET", "/v1/skus/{sku}/disclosure"): "disclose_sku",
    ("GET", "/v1/skus/{sku}/flows"): "sku_flows",
    ("GET", "/v1/skus/{sku}/report"): "sku_report",
    ("GET", "/v1/skus/{sku}/makers"): "list_makers",
    ("POST", "/v1/skus/{sku}/makers"): "add_maker",
    ("DELETE", "/v1/skus/{sku}/makers/{organization}"): "remove_maker",
    ("GET", "/v1/organizations/{code}/suppliers"): "list_suppliers",
    ("POST", "/v1/organizations/{code}/suppliers"): "add_supplier",
    ("DELETE", "/v1/organizations/{code}/suppliers/{organization}"): "remove_supplier",
    ("GET", "/metrics"): "get_metrics",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app as ``create_app`` builds it; its database is never opened."""
    path = tmp_path_factory.mktemp("operation-ids") / "unused.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}", admin_key="unused"))
    try:
        yield app
    finally:
        app.state.engine.dispose()


def documented_ids(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["operationId"]
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def handler_names(app: FastAPI) -> dict[tuple[str, str], str]:
    """Each documented (method, path) and the name of the function that handles it."""
    names: dict[tuple[str, str], str] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert context.path is not None
            for method in route.methods or ():
                # A path parameter that may hold slashes ({eventID:path}) is documented without its convertor.
                names[(method, re.sub(r"\{(\w+):path\}", r"{\1}", context.path))] = route.endpoint.__name__
    return names


def test_every_operation_id_is_its_handlers_name(app: FastAPI) -> None:
    assert documented_ids(app.openapi()) == handler_names(app)


def test_operation_ids_are_unique_and_snake_case(app: FastAPI) -> None:
    ids = list(documented_ids(app.openapi()).values())
    assert len(ids) == len(set(ids)), f"two handlers share a name, rename one: {sorted(ids)}"
    assert all(SNAKE_CASE.fullmatch(i) for i in ids), ids


def test_the_committed_document_has_the_listed_operation_ids() -> None:
    assert documented_ids(json.loads(COMMITTED_OPENAPI.read_text())) == DOCUMENTED
