"""Findings of the security review (issue 12), each replayed as the attack it was, now refused.

Idempotency's findings are in test_idempotency.py; here the admin key file, hostile cursors,
the request id of a 500, and the request ids the audit trail keeps.
"""

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import ensure_key_file
from service.config import Settings
from service.serving import serving
from tests.conftest import ADMIN_KEY
from tests.helpers import make_chain, post_ok
from tests.servers import lodestone_env

SERVER_ID = re.compile(r"[0-9a-f]{32}")


# The generated admin key file


def test_the_key_file_is_not_accepted_once_an_admin_key_is_set(settings: Settings, tmp_path: Path) -> None:
    key_file = tmp_path / "admin.key"
    generated = ensure_key_file(key_file)
    without = settings.model_copy(update={"admin_key": None, "key_file": key_file})
    assert without.accepted_admin_keys() == (generated,)
    configured = settings.model_copy(update={"key_file": key_file})
    assert configured.accepted_admin_keys() == (ADMIN_KEY,)
    app = create_app(configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {generated}"}).status_code == 401
        assert client.get("/v1/api-keys", headers={"X-API-Key": generated}).status_code == 401
        assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    app.state.engine.dispose()


def test_serve_says_the_key_file_is_not_accepted(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "admin.key"
    generated = ensure_key_file(key_file)
    log = tmp_path / "serve.log"
    with serving(lodestone_env(database_url) | {"LODESTONE_KEY_FILE": str(key_file)}, log) as server:
        refused, accepted = (
            httpx.get(f"{server.base_url}/v1/organizations", headers={"X-API-Key": key}, timeout=30).status_code
            for key in (generated, ADMIN_KEY)
        )
    assert (refused, accepted) == (401, 200)
    assert f"LODESTONE_ADMIN_KEY is set, so the generated key in {key_file} is not accepted" in log.read_text()


# Cursors


def _cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


HOSTILE_CURSORS = [
    _cursor({"after": 2**63}),
    _cursor({"after": 2**64 + 1}),
    _cursor({"after": -(2**63) - 1}),
    _cursor({"after": 10**400}),
    _cursor({"after": -1}),
    _cursor({"after": 2**63 - 1}),
    _cursor({"after": -(2**63)}),
    _cursor({"after": 0}),
    _cursor({"after": 1.5}),
    _cursor({"after": 1e308}),
    base64.urlsafe_b64encode(b'{"after": 1e999}').decode(),
    base64.urlsafe_b64encode(b'{"after": NaN}').decode(),
    base64.urlsafe_b64encode(b'{"after": ' + b"9" * 5000 + b"}").decode(),
    _cursor({"after": True}),
    _cursor({"after": None}),
    _cursor({"after": {"after": 1}}),
    _cursor({"after": [1, "a"]}),
    _cursor({"after": ""}),
    _cursor({"after": "MAKER"}),
    _cursor({"after": "x" * 256}),
    _cursor({"after": "x" * 20_000}),
    _cursor({"after": "\u0000"}),
    _cursor({"after": "a\ud800"}),
    _cursor({"after": "\u202e"}),
    _cursor({"before": 1}),
    _cursor([1]),
    _cursor("after"),
    _cursor(7),
    base64.urlsafe_b64encode(b"[" * 20_000).decode(),
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    "",
    "=",
    "!!!not base64!!!",
    "e30",  # {}
    "%00",
    "a" * 10_000,
]


def list_routes(client: TestClient) -> list[str]:
    """Every GET route that takes a cursor, by the OpenAPI document, path parameters filled in."""
    paths = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        parameters = item.get("get", {}).get("parameters", [])
        if any(p["name"] == "cursor" and p["in"] == "query" for p in parameters):
            paths.append(re.sub(r"\{[^}]+\}", lambda m: "WIDGET" if m.group(0) == "{sku}" else "MAKER", path))
    return paths


def test_no_cursor_answers_500_on_any_list(client: TestClient) -> None:
    make_chain(client)
    routes = list_routes(client)
    assert {"/v1/lots", "/v1/api-keys", "/v1/audit", "/v1/attestations", "/v1/organizations"} <= set(routes)
    for path in routes:
        assert client.get(path).status_code == 200, path
        for cursor in HOSTILE_CURSORS:
            response = client.get(path, params={"cursor": cursor, "limit": 1})
            assert response.status_code in (200, 422), (path, cursor[:40], response.status_code, response.text)
            assert response.headers["x-request-id"]
            if response.status_code == 422:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["request_id"] == response.headers["x-request-id"]


def test_the_attack_cursor_is_422(client: TestClient) -> None:
    response = client.get("/v1/lots", params={"cursor": _cursor({"after": 2**63})})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "cursor", "message": "is not a cursor for this list"}]


# Request ids


@pytest.fixture
def boom(settings: Settings) -> Any:
    """The real app with one extra test-only route that fails as a bug would."""
    app = create_app(settings)

    @app.get("/test-only/boom")
    def explode() -> None:
        raise RuntimeError("a bug")

    @app.post("/test-only/boom")
    async def explode_later() -> None:
        raise KeyError("a bug")

    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def test_a_500_carries_its_request_id(boom: TestClient) -> None:
    for method in ("GET", "POST"):
        response = boom.request(method, "/test-only/boom")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert SERVER_ID.fullmatch(response.headers["x-request-id"])
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert "a bug" not in response.text
        traced = boom.request(method, "/test-only/boom", headers={"X-Request-ID": "trace-500"})
        assert traced.status_code == 500
        assert traced.headers["x-request-id"] == traced.json()["request_id"] == "trace-500"


def test_the_audit_trail_keeps_the_servers_request_id(client: TestClient) -> None:
    shared = {"X-Request-ID": "same-id"}
    alpha = client.post("/v1/organizations", json={"code": "ALPHA", "name": "A", "country": "DE"}, headers=shared)
    bravo = client.post("/v1/organizations", json={"code": "BRAVO", "name": "B", "country": "FR"}, headers=shared)
    assert alpha.status_code == bravo.status_code == 201
    assert alpha.headers["x-request-id"] == bravo.headers["x-request-id"] == "same-id"  # echoed for correlation
    entries = client.get("/v1/audit", params={"action": "organization.created"}).json()["items"]
    ids = [entry["request_id"] for entry in entries]
    assert len(ids) == 2
    assert ids[0] != ids[1]
    assert all(SERVER_ID.fullmatch(request_id) for request_id in ids)


def test_every_write_gets_its_own_request_id(client: TestClient) -> None:
    make_chain(client)
    post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "viewer", "name": "portal"})
    ids = [entry["request_id"] for entry in client.get("/v1/audit", params={"limit": 500}).json()["items"]]
    assert len(ids) == len(set(ids)) == 7
