"""Idempotency-Key: a retried POST replays its answer and records nothing new.

Keys are claimed only for an authenticated caller on a route that exists, scoped to the API
key's id; the answer is stored before it is sent; expired records are swept when answers are stored.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.config import Settings
from service.db import utcnow
from tests.helpers import event, make_chain, post_ok
from tests.servers import running_server


def ore(code: str) -> dict[str, Any]:
    return event("extraction", "MINE", outputs=[
        {"code": code, "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1"}}
    ])  # fmt: skip


def stored(settings: Settings) -> list[tuple[str, str, str]]:
    """Every idempotency record as (scope, key, state), read beside the app."""
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT principal, key, state FROM idempotency_record ORDER BY pk")).all()
    engine.dispose()
    return [(r[0], r[1], r[2]) for r in rows]


def counts(client: TestClient) -> tuple[int, int]:
    lots = len(client.get("/v1/lots", params={"limit": 500}).json()["items"])
    return lots, client.get("/v1/audit/verify").json()["entries"]


def test_same_key_same_body_replays_and_records_nothing(client: TestClient) -> None:
    make_chain(client)
    first = client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "erp-7781"})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    before = counts(client)
    again = client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": '"erp-7781"'})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert counts(client) == before


def test_same_key_other_body_is_422(client: TestClient) -> None:
    make_chain(client)
    assert client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "k1"}).status_code == 201
    before = counts(client)
    response = client.post("/v1/events", json=ore("ORE-2"), headers={"Idempotency-Key": "k1"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(client) == before


def test_refusals_are_replayed_too(client: TestClient) -> None:
    make_chain(client)
    bad = ore("ORE-1") | {"facility": "NOWHERE"}
    first = client.post("/v1/events", json=bad, headers={"Idempotency-Key": "k-bad"})
    again = client.post("/v1/events", json=bad, headers={"Idempotency-Key": "k-bad"})
    assert first.status_code == again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_keys_are_scoped_to_the_api_key(client: TestClient) -> None:
    make_chain(client)
    recorder = post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "recorder", "name": "erp"})
    assert client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "shared"}).status_code == 201
    other = client.post(
        "/v1/events",
        json=ore("ORE-1"),
        headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {recorder['key']}"},
    )
    assert other.status_code == 409  # ran for this key: the lot code is taken, nothing replayed
    assert "idempotent-replayed" not in other.headers


def test_keys_expire_after_24_hours(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    assert client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "old"}).status_code == 201
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE idempotency_record SET created_at = :then"), {"then": utcnow() - timedelta(hours=25)}
        )
    engine.dispose()
    again = client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "old"})
    assert again.status_code == 409  # ran again: the code is taken now
    assert "idempotent-replayed" not in again.headers


def test_replayed_key_creation_never_shows_the_secret_again(client: TestClient, settings: Settings) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    body = {"organization": "ORG", "role": "viewer", "name": "portal"}
    first = client.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "key-1"})
    again = client.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "key-1"})
    assert first.json()["key"].startswith("lsk_")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() | {"key": None}
    assert len(client.get("/v1/api-keys").json()["items"]) == 1
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as connection:
        stored = str(connection.execute(sa.text("SELECT * FROM idempotency_record")).all())
    engine.dispose()
    assert first.json()["key"] not in stored


def test_malformed_keys_are_422(client: TestClient) -> None:
    make_chain(client)
    for key in ("", '""', "x" * 256, "tab\there"):
        response = client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": key})
        assert response.status_code == 422, key
    assert client.get("/v1/lots").json()["items"] == []


def test_racing_duplicates_record_one_event(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path, workers=2) as server:
        with server.client() as client:
            for path, body in (
                ("/v1/organizations", {"code": "MINER", "name": "Miner", "country": "AU"}),
                ("/v1/facilities", {"code": "MINE", "name": "Mine", "organization": "MINER", "country": "AU",
                                    "stages": ["mining"]}),
            ):  # fmt: skip
                assert client.post(path, json=body).status_code == 201
        with server.client(limits=httpx.Limits(max_connections=16)) as client, ThreadPoolExecutor(16) as pool:
            responses = list(
                pool.map(
                    lambda _: client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "twin"}),
                    range(16),
                )
            )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}, statuses
        fresh = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
        assert len(fresh) == 1
        with server.client() as client:
            assert len(client.get("/v1/lots").json()["items"]) == 1
            replay = client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "twin"})
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == fresh[0].json()


def test_anonymous_callers_and_unknown_routes_store_nothing(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    anonymous = {"Authorization": "", "Idempotency-Key": "anon-1"}
    for path in ("/v1/events", "/v1/skus", "/v1/nowhere", "/nowhere"):
        first = client.post(path, json=ore("ORE-1"), headers=anonymous)
        again = client.post(path, json=ore("ORE-1"), headers=anonymous)
        assert first.status_code == again.status_code == (404 if "nowhere" in path else 401), path
        assert "idempotent-replayed" not in again.headers
    for path in ("/v1/nowhere", "/v1/events/x/y", "/v1/lots/00000000-0000-0000-0000-000000000000/nothing"):
        response = client.post(path, json={}, headers={"Idempotency-Key": "lost"})
        assert response.status_code == 404, path
    bad_key = client.post(
        "/v1/events", json=ore("ORE-1"), headers={"Authorization": "Bearer nope", "Idempotency-Key": "x"}
    )
    assert bad_key.status_code == 401
    assert stored(settings) == []


def test_a_revoked_key_gets_401_never_a_replay(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    recorder = post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "recorder", "name": "erp"})
    as_recorder = {"Authorization": f"Bearer {recorder['key']}", "Idempotency-Key": "before-revoke"}
    assert client.post("/v1/events", json=ore("ORE-1"), headers=as_recorder).status_code == 201
    assert client.delete(f"/v1/api-keys/{recorder['id']}").status_code == 200
    again = client.post("/v1/events", json=ore("ORE-1"), headers=as_recorder)
    assert again.status_code == 401
    assert "idempotent-replayed" not in again.headers
    assert again.headers["content-type"] == "application/problem+json"
    assert [(scope, key) for scope, key, _ in stored(settings)] == [(recorder["id"], "before-revoke")]


def test_the_scope_is_the_api_key_whichever_header_sends_it(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    recorder = post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "recorder", "name": "erp"})
    first = client.post(
        "/v1/events",
        json=ore("ORE-1"),
        headers={"Authorization": f"Bearer {recorder['key']}", "Idempotency-Key": "either"},
    )
    assert first.status_code == 201
    before = counts(client)
    again = client.post(
        "/v1/events",
        json=ore("ORE-1"),
        headers={"Authorization": "", "X-API-Key": recorder["key"], "Idempotency-Key": "either"},
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert counts(client) == before
    assert stored(settings) == [(recorder["id"], "either", "done")]


def test_expired_records_are_swept_when_an_answer_is_stored(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO idempotency_record (principal, key, request_hash, state, created_at) "
                "VALUES (:principal, :key, :hash, 'done', :at)"
            ),
            [
                {"principal": "gone-key", "key": f"old-{n}", "hash": "0" * 64, "at": utcnow() - timedelta(hours=hours)}
                for n, hours in enumerate((25, 48, 24 * 30))
            ]
            + [{"principal": "kept-key", "key": "recent", "hash": "0" * 64, "at": utcnow() - timedelta(hours=23)}],
        )
    engine.dispose()
    assert client.post("/v1/events", json=ore("ORE-1"), headers={"Idempotency-Key": "sweeper"}).status_code == 201
    assert stored(settings) == [("kept-key", "recent", "done"), ("operator", "sweeper", "done")]


def test_a_retry_right_after_an_answer_replays(database_url: str, tmp_path: Path) -> None:
    """The record is committed before the answer leaves: an immediate retry never finds it in flight."""
    with running_server(database_url, tmp_path, workers=2) as server, server.client() as client:
        make_chain(client)
        for n in range(20):
            body = ore(f"ORE-{n}")
            first = client.post("/v1/events", json=body, headers={"Idempotency-Key": f"retry-{n}"})
            again = client.post("/v1/events", json=body, headers={"Idempotency-Key": f"retry-{n}"})
            assert first.status_code == 201, first.text
            assert again.status_code == 201, again.text
            assert again.headers["idempotent-replayed"] == "true"
