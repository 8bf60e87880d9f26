"""Keys trusted for reads for a bounded time: a revoked key stops reading on every worker within the bound."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from tests.conftest import ADMIN_KEY, serve_in_process
from tests.helpers import post_ok
from tests.servers import running_server

WRITE = {"sku": "NEW-SKU", "name": "New", "organization": "OWN"}


def _viewer_and_manager(client: TestClient) -> tuple[str, dict[str, str]]:
    post_ok(client, "/v1/organizations", {"code": "OWN", "name": "Own", "country": "AU"})
    viewer = post_ok(client, "/v1/api-keys", {"organization": "OWN", "role": "viewer", "name": "portal"})
    manager = post_ok(client, "/v1/api-keys", {"organization": "OWN", "role": "manager", "name": "erp"})
    return viewer["key"], manager


@pytest.fixture
def long_trust(settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(settings.model_copy(update={"key_cache_seconds": 3600.0}))


def test_a_revoked_key_never_writes_again_and_reads_until_the_bound(long_trust: TestClient) -> None:
    _viewer, manager = _viewer_and_manager(long_trust)
    as_manager = {"Authorization": f"Bearer {manager['key']}"}
    assert long_trust.get("/v1/skus", headers=as_manager).status_code == 200  # now trusted for reads
    assert long_trust.delete(f"/v1/api-keys/{manager['id']}").status_code == 200
    refused = long_trust.post("/v1/skus", json=WRITE, headers=as_manager)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    # Within the bound (an hour here) the worker still trusts the key it confirmed for reading.
    assert long_trust.get("/v1/skus", headers=as_manager).status_code == 200
    assert long_trust.get("/v1/skus/NEW-SKU").status_code == 404  # and the refused write recorded nothing


def test_no_trust_looks_every_key_up(settings: Settings) -> None:
    for client in serve_in_process(settings.model_copy(update={"key_cache_seconds": 0.0})):
        _viewer, manager = _viewer_and_manager(client)
        as_manager = {"Authorization": f"Bearer {manager['key']}"}
        assert client.get("/v1/skus", headers=as_manager).status_code == 200
        assert client.delete(f"/v1/api-keys/{manager['id']}").status_code == 200
        assert client.get("/v1/skus", headers=as_manager).status_code == 401


def test_a_wrong_key_is_never_trusted(long_trust: TestClient) -> None:
    viewer, _manager = _viewer_and_manager(long_trust)
    for _ in range(3):
        assert long_trust.get("/v1/skus", headers={"Authorization": f"Bearer {viewer}x"}).status_code == 401
    assert long_trust.get("/v1/skus", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200


BOUND_SECONDS = 1.0


def test_revocation_reaches_every_worker_within_the_bound(tmp_path: Path) -> None:
    """Two real workers both trust a key; once it is revoked and the bound has passed, neither reads with it."""
    database = f"sqlite:///{tmp_path / 'lodestone.db'}"
    with running_server(database, tmp_path, workers=2, key_cache_seconds=str(BOUND_SECONDS)) as server:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            post_ok(admin, "/v1/organizations", {"code": "OWN", "name": "Own", "country": "AU"})
            made = post_ok(admin, "/v1/api-keys", {"organization": "OWN", "role": "viewer", "name": "portal"})
        as_viewer = {"Authorization": f"Bearer {made['key']}"}
        # A new connection each time: the kernel spreads them over both workers, and each worker trusts the key.
        for _ in range(60):
            with httpx.Client(base_url=server.base_url, headers=as_viewer) as fresh:
                assert fresh.get("/v1/skus").status_code == 200
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            assert admin.delete(f"/v1/api-keys/{made['id']}").status_code == 200
        time.sleep(BOUND_SECONDS)
        statuses = []
        for _ in range(60):
            with httpx.Client(base_url=server.base_url, headers=as_viewer) as fresh:
                statuses.append(fresh.get("/v1/skus").status_code)
        assert statuses == [401] * 60
