"""Reads on a real PostgreSQL streaming replica: where they go, reading your own writes, readiness, failure.

The replica is made by ``tests/replica.py`` (``pg_basebackup -R`` of the test cluster, on a free port) once
for the module. Pausing its replay (``pg_wal_replay_pause()``) freezes its data while the primary moves on:
a read the replica answers then misses what was written since, which is how these tests tell who answered.
"""

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.consistency import HEADER
from service.app import create_app
from service.config import Settings
from service.db import REPLICA_STATUS_REUSE_SECONDS, format_lsn, parse_lsn
from tests.conftest import ADMIN_KEY, POSTGRES_URL, REQUIRE_POSTGRES, empty_tables, settings_for
from tests.helpers import make_chain, post_ok
from tests.replica import Replica, primary_position, streaming_replica, unavailable_reason

LOOPS = 25
# Bounds far beyond any test's run: the replica answers while it is paused.
PATIENT = Decimal(3600)


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(f"LODESTONE_TEST_REQUIRE_POSTGRES=1 but no read replica can run: {reason}")
    pytest.skip(f"read replica tests need {reason}")


@pytest.fixture(scope="module")
def replica(request: pytest.FixtureRequest) -> Iterator[Replica]:
    if not POSTGRES_URL and not REQUIRE_POSTGRES:
        _skip_or_fail("PostgreSQL (set LODESTONE_TEST_POSTGRES_URL)")
    postgres_database: str = request.getfixturevalue("postgres_database")
    reason = unavailable_reason(postgres_database)
    if reason is not None:
        _skip_or_fail(reason)
    with streaming_replica(postgres_database) as started:
        yield started


@pytest.fixture
def primary_url(replica: Replica, request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL database, emptied, with the replica caught up and replaying."""
    postgres_database: str = request.getfixturevalue("postgres_database")  # after the replica's skip
    empty_tables(postgres_database)
    replica.resume_replay()
    replica.wait_replayed(primary_position(postgres_database))
    return postgres_database


def serve(primary_url: str, replica: Replica, folder: Path, max_lag: Decimal = PATIENT) -> Iterator[TestClient]:
    base = settings_for(primary_url, folder)
    fields = base.model_dump() | {"read_database_url": replica.url, "read_replica_max_lag_seconds": max_lag}
    if "key_cache_seconds" in Settings.model_fields:  # no cached keys: every request authenticates
        fields["key_cache_seconds"] = 0
    app = create_app(Settings(**fields))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()
    app.state.read_engine.dispose()


@pytest.fixture
def client(primary_url: str, replica: Replica, tmp_path: Path) -> Iterator[TestClient]:
    yield from serve(primary_url, replica, tmp_path)


@pytest.fixture
def impatient(primary_url: str, replica: Replica, tmp_path: Path) -> Iterator[TestClient]:
    """The same database, served by an app that lets the replica lag not at all."""
    folder = tmp_path / "impatient"
    folder.mkdir()
    yield from serve(primary_url, replica, folder, max_lag=Decimal(0))


@pytest.fixture
def paused(replica: Replica) -> Iterator[Replica]:
    replica.pause_replay()
    yield replica
    replica.resume_replay()


def written(response: Any) -> int:
    """The token of a write's answer, as a WAL position."""
    assert response.status_code in (200, 201), response.text
    position = parse_lsn(response.headers[HEADER])
    assert position is not None, response.headers[HEADER]
    return position


def organization_codes(client: TestClient, **headers: str) -> set[str]:
    response = client.get("/v1/organizations", params={"limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["code"] for item in response.json()["items"]}


def new_organization(client: TestClient, code: str) -> int:
    return written(client.post("/v1/organizations", json={"code": code, "name": code, "country": "AU"}))


def test_reads_come_from_the_replica(client: TestClient, replica: Replica) -> None:
    replica.wait_replayed(new_organization(client, "BEFORE"))
    replica.pause_replay()
    try:
        token = new_organization(client, "AFTER")
        # Without the token: the paused replica answers, stale but consistent (what it had replayed).
        assert organization_codes(client) == {"BEFORE"}
        # With it: the replica has not replayed that far, so the primary answers, and the write is there.
        assert organization_codes(client, **{HEADER: format_lsn(token)}) == {"BEFORE", "AFTER"}
        assert "lodestone-read" in replica.application_names()
    finally:
        replica.resume_replay()
    replica.wait_replayed(token)
    assert organization_codes(client) == {"BEFORE", "AFTER"}


def test_a_token_the_replica_has_replayed_is_answered_there(client: TestClient, replica: Replica) -> None:
    token = client.post("/v1/organizations", json={"code": "SEEN", "name": "Seen", "country": "AU"})
    replica.wait_replayed(written(token))
    replica.pause_replay()
    try:
        new_organization(client, "UNSEEN")
        # The replica holds everything up to the token, so it answers, and does not know UNSEEN yet.
        assert organization_codes(client, **{HEADER: token.headers[HEADER]}) == {"SEEN"}
    finally:
        replica.resume_replay()


def test_read_your_write_with_replay_paused(client: TestClient, paused: Replica) -> None:
    make_chain(client)
    stale_without_token = stale_with_token = 0
    for n in range(LOOPS):
        recorded = client.post("/v1/events", json=extraction(f"ORE-{n}"))
        token = recorded.headers[HEADER]
        lot_id = recorded.json()["outputs"][0]["id"]
        asked = client.get(f"/v1/lots/{lot_id}/origin", headers={HEADER: token})
        stale_with_token += asked.status_code == 404
        assert asked.status_code in (200, 404), asked.text
        stale_without_token += client.get(f"/v1/lots/{lot_id}/origin").status_code == 404
    assert stale_with_token == 0
    # The same reads without the token all came from the paused replica: the loop could have failed.
    assert stale_without_token == LOOPS


def widget_made_from(client: TestClient, n: int) -> str:
    """A new WIDGET lot (make_chain's SKU) from a new mine lot: the write's token."""
    ore = client.post("/v1/events", json=extraction(f"ORE-W{n}")).json()["outputs"][0]["id"]
    shipped = client.post("/v1/events", json={
        "type": "transfer", "facility": "MINE", "occurred_at": "2025-06-02T00:00:00Z",
        "inputs": [{"lot": ore, "quantity": "100"}], "outputs": [{"code": f"ORE-W{n}-US", "facility": "PLANT"}],
    }).json()["outputs"][0]["id"]  # fmt: skip
    made = client.post("/v1/events", json={
        "type": "processing", "facility": "PLANT", "stage": "manufacturing", "occurred_at": "2025-06-03T00:00:00Z",
        "inputs": [{"lot": shipped, "quantity": "100"}],
        "outputs": [{"code": f"WIDGET-{n}", "material": "product", "quantity": "10", "unit": "pcs", "sku": "WIDGET",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    token: str = made.headers[HEADER]
    return token


def widget_lots(client: TestClient, **headers: str) -> set[str]:
    answer = client.get("/v1/skus/WIDGET/origin", headers=headers)
    assert answer.status_code == 200, answer.text
    return {lot["code"] for lot in answer.json()["lots"]}


def test_sku_answers_read_your_write_with_replay_paused(client: TestClient, replica: Replica) -> None:
    """The answer a portal polls: remembered and checked on the replica without a token, fresh with one."""
    make_chain(client)
    replica.wait_replayed(parse_lsn(widget_made_from(client, 0)) or 0)
    assert widget_lots(client) == widget_lots(client) == {"WIDGET-0"}  # the second one remembered
    replica.pause_replay()
    try:
        stale_with_token = stale_without_token = 0
        for n in range(1, LOOPS // 5 + 1):
            token = widget_made_from(client, n)
            for _ in range(2):
                stale_with_token += f"WIDGET-{n}" not in widget_lots(client, **{HEADER: token})
                stale_without_token += widget_lots(client) == {"WIDGET-0"}
        assert stale_with_token == 0
        assert stale_without_token == 2 * (LOOPS // 5)  # all from the paused replica: the loop could have failed
    finally:
        replica.resume_replay()
    replica.wait_replayed(parse_lsn(token) or 0)
    assert widget_lots(client) == {f"WIDGET-{n}" for n in range(LOOPS // 5 + 1)}


def test_a_remembered_answer_leaves_a_lagging_replica_within_the_bound(
    primary_url: str, replica: Replica, tmp_path: Path
) -> None:
    """Without a token, a remembered answer checked on the replica is at most the lag bound plus the time a
    status that let reads through is trusted (``REPLICA_STATUS_REUSE_SECONDS``) behind the primary."""
    bound = Decimal(1)
    for client in serve(primary_url, replica, tmp_path, max_lag=bound):
        make_chain(client)
        replica.wait_replayed(parse_lsn(widget_made_from(client, 0)) or 0)
        assert widget_lots(client) == widget_lots(client) == {"WIDGET-0"}  # the second one remembered
        replica.pause_replay()
        try:
            token = parse_lsn(widget_made_from(client, 1)) or 0
            replica.wait_received(token)
            time.sleep(float(bound) + REPLICA_STATUS_REUSE_SECONDS + 0.2)
            assert widget_lots(client) == {"WIDGET-0", "WIDGET-1"}  # from the primary: the replica is too far behind
            assert replica.replayed() < token
        finally:
            replica.resume_replay()


def test_a_remembered_answer_falls_back_to_the_primary_when_the_replica_stops(
    client: TestClient, replica: Replica
) -> None:
    make_chain(client)
    replica.wait_replayed(parse_lsn(widget_made_from(client, 0)) or 0)
    assert widget_lots(client) == widget_lots(client) == {"WIDGET-0"}  # remembered, its status trusted a while
    replica.stop()
    try:
        token = widget_made_from(client, 1)
        for _ in range(3):  # the replica's pooled connections dead: checked and answered on the primary
            assert widget_lots(client) == {"WIDGET-0", "WIDGET-1"}
    finally:
        replica.start()
    replica.wait_replayed(parse_lsn(token) or 0)


def extraction(code: str) -> dict[str, Any]:
    output = {"code": code, "material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
    return {"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z", "outputs": [output]}


def test_readyz_reports_a_streaming_replica(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["replica"]["state"] == "streaming"
    assert body["replica"]["lag_bytes"] >= 0
    assert client.get("/readyz", params={"replica": "required"}).status_code == 200


def test_a_lagging_replica_is_reported_and_reads_go_to_the_primary(
    impatient: TestClient, replica: Replica, paused: Replica
) -> None:
    token = new_organization(impatient, "FRESH")
    replica.wait_received(token)  # the replica knows it is behind once the WAL has reached it
    ready = impatient.get("/readyz")
    assert ready.status_code == 200  # the instance still answers correctly: reads go to the primary
    assert ready.json()["replica"]["state"] == "lagging"
    assert ready.json()["replica"]["lag_bytes"] > 0
    assert Decimal(ready.json()["replica"]["lag_seconds"]) > 0
    required = impatient.get("/readyz", params={"replica": "required"})
    assert required.status_code == 503
    assert required.headers["content-type"] == "application/problem+json"
    assert "lagging" in required.json()["detail"]
    # Beyond the bound the replica answers nothing, token or not: fresh answers from the primary.
    assert organization_codes(impatient) == {"FRESH"}
    assert replica.replayed() < token


def test_a_revoked_key_stops_reading_within_the_lag_bound(
    client: TestClient, impatient: TestClient, replica: Replica
) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "AU"})
    created = client.post("/v1/api-keys", json={"organization": "ORG", "role": "viewer", "name": "portal"})
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    replica.wait_replayed(written(created))
    replica.pause_replay()
    try:
        revoked = written(client.delete(f"/v1/api-keys/{created.json()['id']}"))
        replica.wait_received(revoked)
        assert revoked > replica.replayed()
        # Within the bound (an hour here) the replica, which has not seen the revocation, still lets it read;
        assert client.get("/v1/organizations", headers=key).status_code == 200
        # beyond it (no lag at all here) the primary authenticates, and the key is refused; writes never use it.
        assert impatient.get("/v1/organizations", headers=key).status_code == 401
        refused = client.post("/v1/organizations", json={"code": "NO", "name": "No", "country": "AU"}, headers=key)
        assert refused.status_code == 401
    finally:
        replica.resume_replay()


def test_reads_and_writes_go_on_when_the_replica_stops(client: TestClient, replica: Replica) -> None:
    token = new_organization(client, "BEFORE")
    replica.stop()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["replica"] == {"state": "down"}
        assert client.get("/readyz", params={"replica": "required"}).status_code == 503
        token = new_organization(client, "WHILE")
        assert organization_codes(client) == {"BEFORE", "WHILE"}
        assert organization_codes(client, **{HEADER: format_lsn(token)}) == {"BEFORE", "WHILE"}
    finally:
        replica.start()
    replica.wait_replayed(token)


@pytest.mark.parametrize("token", ["nonsense", "1/", "/1", "G/1", "123456789/1", "1/2/3", "", "0x1/0x2"])
def test_a_malformed_token_is_422(client: TestClient, token: str) -> None:
    response = client.get("/v1/organizations", headers={HEADER: token})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert HEADER in response.json()["detail"]


def test_every_write_carries_a_token_and_tokens_grow(client: TestClient) -> None:
    first = new_organization(client, "ONE")
    keyed = client.post(
        "/v1/organizations", json={"code": "TWO", "name": "Two", "country": "AU"}, headers={"Idempotency-Key": "k-1"}
    )
    assert written(keyed) > first
    assert HEADER not in client.get("/v1/organizations").headers  # reads send none


def test_a_write_refused_carries_no_token(client: TestClient) -> None:
    refused = client.post("/v1/organizations", json={"code": "X", "name": "X", "country": "nowhere"})
    assert refused.status_code == 422
    assert HEADER not in refused.headers


def test_without_a_replica_tokens_are_checked_and_ignored(settings: Settings) -> None:
    """Every backend, no replica: writes carry no token; a well-formed one is ignored, a malformed one is 422."""
    app = create_app(settings)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False) as plain:
        assert app.state.read_engine is None
        created = plain.post("/v1/organizations", json={"code": "ONE", "name": "One", "country": "AU"})
        assert created.status_code == 201
        assert HEADER not in created.headers
        assert organization_codes(plain, **{HEADER: "FFFFFFFF/FFFFFFFF"}) == {"ONE"}
        assert plain.get("/v1/organizations", headers={HEADER: "not-a-token"}).status_code == 422
        assert plain.get("/readyz").json() == {"status": "ok"}
        assert plain.get("/readyz", params={"replica": "required"}).status_code == 200  # none to require
        assert plain.get("/readyz", params={"replica": "maybe"}).status_code == 422
    app.state.engine.dispose()
