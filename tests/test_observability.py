"""Request ids and JSON logs: every answer can be traced, and no secret is ever logged."""

import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from tests.conftest import ADMIN_KEY, serve_in_process
from tests.helpers import post_ok


def test_request_id_is_echoed_and_in_problems(client: TestClient) -> None:
    response = client.get("/v1/skus/NOPE", headers={"X-Request-ID": "portal-1234"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "portal-1234"
    assert response.json()["request_id"] == "portal-1234"
    generated = client.get("/v1/skus/NOPE", headers={"X-Request-ID": "not ok; drop"})
    assert generated.headers["x-request-id"] != "not ok; drop"
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["request_id"] == generated.headers["x-request-id"]


@pytest.fixture
def logging_all(settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(settings.model_copy(update={"access_log": "all"}))


def test_logs_are_json_with_request_id_and_no_secrets(logging_all: TestClient, log_lines: io.StringIO) -> None:
    client = logging_all
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    created = post_ok(client, "/v1/api-keys", {"organization": "ORG", "role": "viewer", "name": "portal"})
    secret = created["key"]
    client.get("/v1/skus", headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "trace-me"})
    client.get("/v1/skus", headers={"Authorization": "Bearer wrong-secret-123"})
    client.get("/v1/skus", headers={"X-API-Key": "another-wrong-secret", "Authorization": ""})
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "lodestone.access"]
    assert len(access) >= 5
    traced = [r for r in access if r["request_id"] == "trace-me"]
    assert traced == [traced[0]]
    assert (
        traced[0] | {"method": "GET", "path": "/v1/skus", "status": 200, "key_id": created["id"], "role": "viewer"}
        == traced[0]
    )
    everything = log_lines.getvalue()
    for secret_text in (secret, ADMIN_KEY, "wrong-secret-123", "another-wrong-secret"):
        assert secret_text not in everything


def _access(log_lines: io.StringIO) -> list[tuple[str, str, int]]:
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    return [(r["method"], r["path"], r["status"]) for r in records if r["logger"] == "lodestone.access"]


def test_by_default_writes_and_refusals_are_logged_not_every_read(client: TestClient, log_lines: io.StringIO) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    assert client.get("/v1/organizations/ORG").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/organizations/NOPE").status_code == 404
    assert client.get("/v1/skus", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert _access(log_lines) == [
        ("POST", "/v1/organizations", 201),
        ("GET", "/v1/organizations/NOPE", 404),
        ("GET", "/v1/skus", 401),
    ]


def test_access_log_off_logs_no_request(settings: Settings, log_lines: io.StringIO) -> None:
    for client in serve_in_process(settings.model_copy(update={"access_log": "off"})):
        post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
        assert client.get("/v1/organizations/NOPE").status_code == 404
    assert _access(log_lines) == []
