"""GET /metrics: counts that move by exactly what was asked, by route template, across workers, behind a key."""

import os
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.config import Settings
from service.db import MAX_CONNECTIONS
from service.metrics import FLUSH_SECONDS, UNMATCHED
from service.serving import serving
from tests.conftest import ADMIN_KEY
from tests.helpers import event, make_chain, post_ok
from tests.servers import lodestone_env, running_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient | httpx.Client, key: str = ADMIN_KEY) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    return value(samples, "lodestone_http_requests_total", route=route, method=method, status=status)


def key_of(client: TestClient, role: str, organization: str = "MAKER") -> str:
    created = post_ok(client, "/v1/api-keys", {"organization": organization, "role": role, "name": f"{role} key"})
    return str(created["key"])


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient) -> None:
    make_chain(client)
    before = scrape(client)
    for code in ("MINER", "MAKER", "NOBODY"):
        client.get(f"/v1/organizations/{code}")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.delete("/healthz").status_code == 405
    after = scrape(client)

    template = "/v1/organizations/{code}"
    assert requests(after, template, "200") - requests(before, template, "200") == 2
    assert requests(after, template, "404") - requests(before, template, "404") == 1
    assert requests(after, "/healthz", "200") - requests(before, "/healthz", "200") == 3
    assert requests(after, "/healthz", "405", "DELETE") - requests(before, "/healthz", "405", "DELETE") == 1
    assert requests(after, UNMATCHED, "404") - requests(before, UNMATCHED, "404") == 1
    # The latency histogram has one observation a request, by route and method, in seconds.
    count = "lodestone_http_request_duration_seconds_count"
    assert value(after, count, route=template, method="GET") - value(before, count, route=template, method="GET") == 3
    assert value(after, "lodestone_http_request_duration_seconds_sum", route=template, method="GET") > 0
    routes = {label for _name, labels in after for name, label in labels if name == "route"}
    assert not {r for r in routes if any(code in r for code in ("MINER", "MAKER", "NOBODY", "no/such"))}, routes


def test_only_admin_and_auditor_keys_read_metrics(client: TestClient) -> None:
    make_chain(client)
    anonymous = client.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    for role, status in (("viewer", 403), ("recorder", 403), ("auditor", 200), ("admin", 200)):
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {key_of(client, role)}"})
        assert answer.status_code == status, (role, answer.text)
    answer = client.get("/metrics")
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "# TYPE lodestone_http_requests_total counter" in answer.text


def test_pool_gauges_follow_the_primary_pool(client: TestClient) -> None:
    app = client.app
    idle = scrape(client)
    assert value(idle, "lodestone_db_pool_size", role="primary") == MAX_CONNECTIONS
    with app.state.engine.connect():  # type: ignore[attr-defined]
        held = scrape(client)
    used = "lodestone_db_pool_checked_out"
    assert value(held, used, role="primary") - value(idle, used, role="primary") == 1
    assert ("lodestone_db_pool_size", (("role", "replica"),)) not in held  # no replica configured


def test_answers_computed_once_then_remembered(client: TestClient) -> None:
    make_chain(client)
    post_ok(client, "/v1/events", event("extraction", "MINE", outputs=[
        {"code": "ORE-1", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}]))  # fmt: skip
    viewer = {"Authorization": f"Bearer {key_of(client, 'viewer')}"}
    before = scrape(client)
    # The admin's question computes the answer; the viewer's, the same question, finds it remembered.
    for headers in ({}, viewer):
        assert client.get("/v1/skus/WIDGET/origin", headers=headers).status_code == 200
        assert client.get("/v1/skus/WIDGET/compliance", headers=headers).status_code == 200
    after = scrape(client)

    def moved(memo: str, outcome: str) -> float:
        name = "lodestone_answers_total"
        return value(after, name, memo=memo, outcome=outcome) - value(before, name, memo=memo, outcome=outcome)

    for memo in ("origin", "compliance"):
        assert (moved(memo, "computed"), moved(memo, "remembered")) == (1, 1), memo
    assert requests(after, "/v1/skus/{sku}/origin", "200") - requests(before, "/v1/skus/{sku}/origin", "200") == 2


def test_an_answer_sent_again_as_remembered_bytes_is_counted_by_its_route(client: TestClient) -> None:
    """The same question from the same caller is answered before routing (``api.remembered``), and still counted."""
    make_chain(client)
    post_ok(client, "/v1/events", event("extraction", "MINE", outputs=[
        {"code": "ORE-1", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}]))  # fmt: skip
    before = scrape(client)
    for _ in range(3):
        assert client.get("/v1/skus/WIDGET/origin").status_code == 200
    after = scrape(client)
    name, template = "lodestone_answers_total", "/v1/skus/{sku}/origin"
    assert (
        value(after, name, memo="origin", outcome="computed") - value(before, name, memo="origin", outcome="computed")
        == 1
    )
    assert (
        value(after, name, memo="origin", outcome="remembered")
        - value(before, name, memo="origin", outcome="remembered")
        == 2
    )
    assert requests(after, template, "200") - requests(before, template, "200") == 3
    assert requests(after, UNMATCHED, "200") == requests(before, UNMATCHED, "200")


def test_events_and_lots_recorded_are_counted_once_committed(client: TestClient) -> None:
    make_chain(client)

    def extraction(code: str, facility: str = "MINE") -> dict[str, object]:
        return event("extraction", facility, outputs=[
            {"code": f"{code}-{n}", "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1"}}
            for n in range(3)])  # fmt: skip

    before = scrape(client)
    post_ok(client, "/v1/events/batch", {"events": [extraction("A"), extraction("B")]})
    post_ok(client, "/v1/events", extraction("C"))
    # Refused whole (the second event's facility does not exist): nothing recorded, nothing counted.
    refused = client.post("/v1/events/batch", json={"events": [extraction("D"), extraction("E", "NOWHERE")]})
    assert refused.status_code == 422, refused.text
    after = scrape(client)

    def moved(name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved("lodestone_events_recorded_total") == 3
    assert moved("lodestone_lots_recorded_total") == 9


def test_metrics_can_be_turned_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics": False}))
    try:
        quiet = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert quiet.get("/healthz").status_code == 200
        assert quiet.get("/metrics").status_code == 404
        assert "/metrics" not in quiet.get("/openapi.json").json()["paths"]
    finally:
        app.state.engine.dispose()


def fresh(server_url: str, path: str, key: str = ADMIN_KEY) -> httpx.Response:
    """One request on a connection of its own, so that the kernel may hand it to either worker."""
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as one:
        return one.get(path, headers={"Connection": "close"})


def healthz_counted(server_url: str, n: int) -> Samples:
    """A scrape once it shows ``n`` /healthz requests: each worker writes its counts every FLUSH_SECONDS."""
    deadline = time.monotonic() + 30 * FLUSH_SECONDS
    while True:
        samples = parse(fresh(server_url, "/metrics").text)
        if requests(samples, "/healthz", "200") >= n or time.monotonic() > deadline:
            return samples
        time.sleep(FLUSH_SECONDS / 4)


def test_every_worker_counts_into_one_total(database_url: str, tmp_path: Path) -> None:
    """Two workers, N requests spread over them: every scrape, whichever worker answers it, shows all N."""
    n = 40
    with running_server(database_url, tmp_path, workers=2) as server:
        for _ in range(n):
            assert fresh(server.base_url, "/healthz").status_code == 200
        assert requests(healthz_counted(server.base_url, n), "/healthz", "200") == n
        for _ in range(6):
            samples = parse(fresh(server.base_url, "/metrics").text)
            assert requests(samples, "/healthz", "200") == n
            # Each worker's pool, added up over the live workers: one or both, never a stale third.
            assert value(samples, "lodestone_db_pool_size", role="primary") in (MAX_CONNECTIONS, 2 * MAX_CONNECTIONS)


def test_a_restart_counts_from_zero_and_a_dead_workers_pool_is_forgotten(database_url: str, tmp_path: Path) -> None:
    """The operator's PROMETHEUS_MULTIPROC_DIR is emptied when `lodestone serve` starts, not resumed from."""
    values = tmp_path / "prometheus"
    values.mkdir()
    env = lodestone_env(database_url) | {"PROMETHEUS_MULTIPROC_DIR": str(values)}
    for _run in range(2):
        with serving(env, tmp_path / "server.log", options=["--workers", "2"]) as server:
            for _ in range(5):
                assert fresh(server.base_url, "/healthz").status_code == 200
            assert requests(healthz_counted(server.base_url, 5), "/healthz", "200") == 5
    # A worker killed outright leaves its gauge file; the next scrape drops it (its counters stay counted).
    with serving(env, tmp_path / "server.log", options=["--workers", "1"]) as server:
        ghost = values / "gauge_livesum_999999999.db"
        ghost.write_bytes((values / f"gauge_livesum_{worker_pid(values)}.db").read_bytes())
        samples = parse(fresh(server.base_url, "/metrics").text)
        assert value(samples, "lodestone_db_pool_size", role="primary") == MAX_CONNECTIONS
        assert not ghost.exists()


def worker_pid(values: Path) -> int:
    (live,) = list(values.glob("gauge_livesum_*.db"))
    pid = int(live.stem.rsplit("_", 1)[1])
    os.kill(pid, 0)  # alive
    return pid
