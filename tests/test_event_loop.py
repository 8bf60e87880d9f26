"""A worker's event loop never waits for PostgreSQL: a stalled table stalls only the requests that read it.

Each case locks one table from outside (``LOCK TABLE ... ACCESS EXCLUSIVE``), sends a request that
must read it, and checks that the same single worker still answers ``/healthz`` at once; then it
lets the lock go and the waiting request finishes. Database work done on the event loop would
hang ``/healthz`` until the lock went.
"""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import ADMIN_KEY
from tests.helpers import extract, make_chain, post_ok
from tests.servers import Server, running_server


@dataclass
class Worker:
    """One ``lodestone serve`` worker on a PostgreSQL database."""

    server: Server
    database_url: str


def wait_until_stuck(future: "Future[httpx.Response]") -> None:
    """The request has not answered after a while: it is waiting for the lock."""
    time.sleep(1)
    assert not future.done(), f"the request did not wait for the lock: {future.result().status_code}"


def healthz_answers_while(worker: Worker, table: str, request: Callable[[], httpx.Response]) -> httpx.Response:
    """``request()`` waits for a lock on ``table`` while ``/healthz`` answers; then its own answer."""
    server = worker.server
    engine = sa.create_engine(worker.database_url)
    try:
        with engine.connect() as blocker, ThreadPoolExecutor(1) as pool:
            locking = blocker.begin()
            blocker.execute(sa.text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
            future = pool.submit(request)
            wait_until_stuck(future)
            started = time.monotonic()
            health = httpx.get(f"{server.base_url}/healthz", timeout=10)
            waited = time.monotonic() - started
            assert not future.done()
            locking.rollback()
            answer = future.result(timeout=30)
    finally:
        engine.dispose()
    assert health.status_code == 200
    assert waited < 5, f"/healthz took {waited:.1f} s while {table} was locked"
    return answer


@pytest.fixture
def worker(database_url: str, tmp_path: Path) -> Iterator[Worker]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite reads run on the event loop by design: they never wait for a lock (WAL)")
    with running_server(database_url, tmp_path, workers=1) as server:
        yield Worker(server, database_url)


def test_a_sku_answer_waiting_for_postgresql_leaves_the_worker_free(worker: Worker) -> None:
    with worker.server.client() as client:
        make_chain(client)
        answer = healthz_answers_while(worker, "sku", lambda: client.get("/v1/skus/WIDGET/origin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"] == "unknown"


def test_a_lot_answer_waiting_for_postgresql_leaves_the_worker_free(worker: Worker) -> None:
    with worker.server.client() as client:
        make_chain(client)
        lot = extract(client, "ORE")
        answer = healthz_answers_while(worker, "lot", lambda: client.get(f"/v1/lots/{lot['id']}/origin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"] == "no"


def test_authenticating_a_key_waiting_for_postgresql_leaves_the_worker_free(worker: Worker) -> None:
    with worker.server.client() as client:
        make_chain(client)
        secret = post_ok(client, "/v1/api-keys", {"organization": "MAKER", "role": "viewer", "name": "portal"})["key"]
    with httpx.Client(base_url=worker.server.base_url, headers={"X-API-Key": secret}, timeout=60) as viewer:
        answer = healthz_answers_while(worker, "api_key", lambda: viewer.get("/v1/organizations"))
    assert answer.status_code == 200, answer.text
    assert sorted(o["code"] for o in answer.json()["items"]) == ["MAKER", "MINER"]


def test_reads_stay_on_the_event_loop_by_default_only_on_sqlite(settings: Settings) -> None:
    app = create_app(settings)
    assert app.state.reads_on_event_loop is settings.database_url.startswith("sqlite")
    app.state.engine.dispose()


def test_reads_in_threads_on_sqlite_when_asked(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"reads_on_event_loop": False}))
    assert app.state.reads_on_event_loop is False
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        make_chain(client)
        lot = extract(client, "ORE")
        assert client.get(f"/v1/lots/{lot['id']}/origin").json()["answer"] == "no"
        assert client.get("/v1/skus/WIDGET/origin").json()["answer"] == "unknown"
    app.state.engine.dispose()
